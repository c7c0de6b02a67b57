#!/usr/bin/env node
// fota: operator CLI (packages, simulated devices, device operations, hub and jobs). Built by `npm run build`.
// Checks the Node.js version before loading the bundle: on an older Node its native add-on (better-sqlite3)
// would fail to load with a stack trace instead of a sentence. The minimum is package.json "fota.node.hub".
import { readFileSync } from 'node:fs';

let minimum;
try {
  minimum = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).fota?.node?.hub;
} catch {
  minimum = undefined;
}
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const [needMajor = 0, needMinor = 0] = String(minimum ?? '0').split('.').map(Number);
if (major < needMajor || (major === needMajor && minor < needMinor)) {
  console.error(`fota needs Node.js ${minimum} or newer (the hub needs aedes and better-sqlite3; the device agent alone, fota-agent, runs on Node.js 18.18); this is Node.js ${process.versions.node}. Install a newer Node.js (docs/installation.md)`);
  process.exit(1);
}
import('../dist/fota.mjs').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('fota: dist/fota.mjs is missing; run `npm run build` first');
    process.exit(70);
  }
  throw err;
});
