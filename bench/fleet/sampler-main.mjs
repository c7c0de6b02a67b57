// Entry of the fleet benchmark's query-sampler process (forked by query-sampler.mjs with an IPC channel): "start"
// begins sampling the hub's API, "stop" ends it and sends every sample back, then the process exits. It exits
// too when the bench goes away.

import { pathToFileURL } from 'node:url';
import { QuerySampler } from './query-sampler.mjs';

let sampler;
let client;

process.on('message', (m) => {
  void (async () => {
    if (m.type === 'start') {
      const lib = await import(pathToFileURL(m.lib).href);
      client = new lib.JobClient({ url: m.hubUrl, requestTimeoutMs: 60_000 });
      // what `fota job show --wait` polls on a 104-row terminal: the counts and 100 children, running and failed first
      sampler = new QuerySampler(client, m.seed, m.jobId, { everyMs: m.everyMs, t0Epoch: m.t0Epoch, show: lib.jobPoller(client, m.jobId, 100) });
      process.send({ type: 'started' });
    } else if (m.type === 'stop') {
      await sampler?.stop();
      client?.close();
      process.send({ type: 'samples', samples: sampler?.samples ?? [] }, () => process.exit(0));
    }
  })().catch((e) => {
    process.stderr.write(`[query sampler] ${e?.stack ?? e}\n`);
    process.exit(1);
  });
});
process.once('disconnect', () => process.exit(0));
