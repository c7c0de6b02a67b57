#!/usr/bin/env node
// fota: operator CLI (packages, simulated devices, device operations, hub and jobs). Built by `npm run build`.
import('../dist/fota.mjs').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('fota: dist/fota.mjs is missing; run `npm run build` first');
    process.exit(70);
  }
  throw err;
});
