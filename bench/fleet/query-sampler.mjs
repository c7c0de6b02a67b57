// API latency WHILE the fleet job runs: every `everyMs` one round of the six job-history queries (queries.mjs) and
// `fota job show` of the running job (one poll of `job show --wait` on a 104-row terminal, cli/job-poll.ts: the
// job, its children's counts and 100 children, the running and failed first; 1 + up to 5 requests), each timed
// from request to parsed answer on its own keep-alive connection. It runs in a process of its
// own (sampler-main.mjs): the bench's event loop serves every device's download, which would add to the times.
//
// INVARIANTS
// - One round at a time: a slow hub stretches the rounds instead of piling requests up (a new round starts
//   `everyMs` after the previous one started, or at once when that one took longer).
// - stop() resolves only after the round under way ended: no request outlives the run.

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { registerChild } from './processes.mjs';
import { queries } from './queries.mjs';
import { stats } from './report.mjs';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const SHOW = 'job show (the running fleet job: counts + 100 children, as --wait polls)';

export class QuerySampler {
  /** `client`: a JobClient of its own; `show`: one `job show --wait` poll; `t0Epoch`: ms epoch the samples' t_s count from. Starts at once. */
  constructor(client, seed, jobId, { everyMs = 1000, t0Epoch = Date.now(), show }) {
    this.client = client;
    this.show = show;
    this.list = queries(seed, jobId);
    this.jobId = jobId;
    this.everyMs = everyMs;
    this.t0Epoch = t0Epoch;
    /** { t_s, query, ms, ok, error? } per request */
    this.samples = [];
    this.running = true;
    this.done = this.loop();
  }

  async time(name, fn) {
    const at = Date.now();
    const t = performance.now();
    let error;
    try {
      await fn();
    } catch (e) {
      error = `${e?.code ?? ''} ${e?.message ?? e}`.slice(0, 300);
    }
    // a failed request counts with the time it took: a timeout must show in the percentiles
    this.samples.push({ t_s: (at - this.t0Epoch) / 1000, query: name, ms: performance.now() - t, ok: !error, ...(error ? { error } : {}) });
  }

  async loop() {
    while (this.running) {
      const start = performance.now();
      for (const [name, run] of this.list) {
        if (!this.running) return;
        await this.time(name, () => run(this.client));
      }
      if (!this.running) return;
      await this.time(SHOW, () => this.show());
      await sleep(Math.max(0, this.everyMs - (performance.now() - start)));
    }
  }

  async stop() {
    this.running = false;
    await this.done;
  }
}

/** Order statistics (ms) of samples: `history` over the six history queries, `show` over job show, rounds, errors. */
export function summarize(samples) {
  const show = samples.filter((s) => s.query === SHOW);
  const history = samples.filter((s) => s.query !== SHOW);
  const failed = samples.filter((s) => !s.ok);
  return { history: stats(history.map((s) => s.ms)), show: stats(show.map((s) => s.ms)), rounds: show.length, errors: failed.length, firstError: failed[0] ? `${failed[0].query}: ${failed[0].error}` : '' };
}

/**
 * Forks the sampler process (registered: stopAll() ends it; its stderr is the bench's) and starts sampling. `lib`: the bench's bundle (for
 * JobClient). Returns { stop() → samples }; stop() never throws (a dead sampler gives the samples it never sent: []).
 */
export async function startSamplerProcess({ lib, hubUrl, seed, jobId, everyMs, t0Epoch }) {
  const script = fileURLToPath(new URL('./sampler-main.mjs', import.meta.url));
  const entry = registerChild('query sampler', fork(script, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }), 5000);
  const message = (type) => new Promise((resolve) => {
    const on = (m) => m.type === type && (entry.child.off('message', on), resolve(m));
    entry.child.on('message', on);
    entry.exited.then(() => resolve(undefined));
  });
  const started = message('started');
  entry.child.send({ type: 'start', lib, hubUrl, seed, jobId, everyMs, t0Epoch });
  await started;
  return {
    async stop() {
      const reply = message('samples');
      if (entry.child.connected) entry.child.send({ type: 'stop' });
      const m = await Promise.race([reply, sleep(90_000)]);
      await Promise.race([entry.exited, sleep(5000)]);
      if (entry.child.exitCode === null) entry.child.kill('SIGKILL');
      return m?.samples ?? [];
    },
  };
}
