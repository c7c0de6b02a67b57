// Investigation aid (PROFILE_DIR=DIR): preloaded into the agent with NODE_OPTIONS=--import, it runs the V8 sampling
// profiler for the agent's whole life and writes DIR/agent-PID.cpuprofile at exit (open it in Chrome DevTools).
// Needed because Node refuses --cpu-prof inside NODE_OPTIONS. Inert in processes that are not the agent.

import { Session } from 'node:inspector';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.FOTA_BENCH_PROFILE_DIR;
if (dir && process.argv.some((a) => a.endsWith('fota-agent.js'))) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 1000 });
  session.post('Profiler.start');
  // the in-process inspector answers synchronously, so this works inside 'exit'
  process.on('exit', () =>
    session.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(path.join(dir, `agent-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    }),
  );
}

/** The `top` functions by self time of a .cpuprofile: [{ seconds, share, where }], share of the profile's span. */
export function topSelfTime(file, top = 20) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const span = p.endTime - p.startTime;
  const self = new Map();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const by = new Map();
  for (const n of p.nodes) {
    const us = self.get(n.id) ?? 0;
    if (!us) continue;
    const cf = n.callFrame;
    const where = `${cf.functionName || '(anonymous)'} ${cf.url ? `${path.basename(cf.url)}:${cf.lineNumber + 1}` : ''}`.trim();
    by.set(where, (by.get(where) ?? 0) + us);
  }
  return [...by].sort((a, b) => b[1] - a[1]).slice(0, top).map(([where, us]) => ({ seconds: us / 1e6, share: us / span, where }));
}
