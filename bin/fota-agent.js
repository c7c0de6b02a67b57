#!/usr/bin/env node
// fota-agent: the device daemon. Built by `npm run build` (runs on `npm ci`).
import('../dist/fota-agent.mjs').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('fota-agent: dist/fota-agent.mjs is missing; run `npm run build` first');
    process.exit(70);
  }
  throw err;
});
