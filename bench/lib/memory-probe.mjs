// Investigation aid (PROBE=1): preloaded into the agent with NODE_OPTIONS=--import, it appends one JSON line of
// process.memoryUsage() every 100 ms to $FOTA_BENCH_PROBE_DIR/agent-PID.jsonl, which splits the agent's RSS into
// the V8 heap, external memory and ArrayBuffers. Inert in processes that are not the agent (e.g. `fota sim run`).

import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.FOTA_BENCH_PROBE_DIR;
if (dir && process.argv.some((a) => a.endsWith('fota-agent.js'))) {
  const file = path.join(dir, `agent-${process.pid}.jsonl`);
  const take = () => appendFileSync(file, `${JSON.stringify({ t: Date.now(), ...process.memoryUsage() })}\n`);
  setInterval(take, 100).unref();
}

/** Maxima (KiB) of the probe's fields between two Date.now() times; undefined without samples. */
export function probePeaks(file, fromMs, toMs) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    const s = JSON.parse(line);
    if (s.t < fromMs || s.t > toMs) continue;
    n++;
    for (const k of Object.keys(peak)) peak[k] = Math.max(peak[k], s[k] / 1024);
  }
  return n ? peak : undefined;
}
