// A minimal Node.js download-hash-write, to tell Node's own cost from the agent's: node:http GET → SHA-256 of every
// byte → positional writeSync into the slot (never truncated) → fdatasync. No tar parsing, no signature, no MQTT.
// usage: node minimal-install.mjs URL SLOT   → one JSON line: { wallS, userS, sysS, maxRssKiB, bytes, sha256 }
// wallS runs from the request to the end of fdatasync (Node start-up excluded, like the agent's figure).

import { createHash } from 'node:crypto';
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import http from 'node:http';

const [url, slot] = process.argv.slice(2);
const t0 = performance.now();
const res = await new Promise((resolve, reject) => http.get(url, resolve).on('error', reject));
if (res.statusCode !== 200) throw new Error(`GET ${url}: status ${res.statusCode}`);
const fd = openSync(slot, 'r+');
const hash = createHash('sha256');
let bytes = 0;
for await (const chunk of res) {
  hash.update(chunk);
  for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off, bytes + off);
  bytes += chunk.length;
}
fdatasyncSync(fd);
closeSync(fd);
const wallS = (performance.now() - t0) / 1000;
const ru = process.resourceUsage();
process.stdout.write(`${JSON.stringify({ wallS, userS: ru.userCPUTime / 1e6, sysS: ru.systemCPUTime / 1e6, maxRssKiB: ru.maxRSS, bytes, sha256: hash.digest('hex') })}\n`);
