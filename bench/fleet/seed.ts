// Seeds a job history into a hub database before the hub starts: `parents` fleet jobs of `children` devices each,
// spread over 90 days, every job terminal (a Queued or Running one would be resumed by the hub on start and
// target devices that do not exist). Deterministic (mulberry32), like bench/query-bench.mjs.

import { JobStore } from '../../hub/jobs/job-store.js';
import { JOB_PARAMS, JOB_TYPE_MIX, seededRandom } from '../lib/job-mix.js';

const DAY = 86_400_000;

export interface SeedOptions {
  parents: number;
  children: number;
  /** the history ends here (ms epoch); it starts 90 days earlier */
  endMs: number;
}

/** What the benchmark's queries need to know about the seeded history. */
export interface SeedResult {
  records: number;
  ms: number;
  /** a parent in the middle of the history (for "children of a parent") */
  sampleParent: string;
  /** a one-week window inside the history, ISO 8601 */
  week: { from: string; to: string };
}

/** Writes the history into the SQLite file `file` (created). Throws JobStoreError on a storage failure. */
export function seedHistory(file: string, opts: SeedOptions): SeedResult {
  const { rnd, weighted } = seededRandom();
  const start = opts.endMs - 90 * DAY;
  let clock = start;
  // one transaction per fleet job, not the whole history in one turn's transaction (coalescing is for a running hub)
  const store = JobStore.open(file, { now: () => clock, coalesce: false });
  const t0 = performance.now();
  let sampleParent = '';
  try {
    for (let p = 0; p < opts.parents; p++) {
      const created = start + Math.floor((p / opts.parents) * (opts.endMs - start - 2 * 3_600_000)) + Math.floor(rnd() * 3_600_000);
      const type = weighted(JOB_TYPE_MIX);
      const id = `hist-${String(p).padStart(5, '0')}`;
      if (p === Math.floor(opts.parents / 2)) sampleParent = id;
      const base = Math.floor(rnd() * 5000);
      clock = created;
      store.createJob({ JobId: id, Type: type, Parameters: JOB_PARAMS[type] }, Array.from({ length: opts.children }, (_, i) => ({ DeviceId: `dev-${String((base + i) % 5000).padStart(4, '0')}` })));
      // one transaction per fleet job, as the running hub writes it
      store.batch(() => {
        clock = created + 60_000;
        store.update(id, { Status: 'Running' });
        let failed = 0;
        for (const child of store.children(id)) {
          const s = weighted<'Completed' | 'Failed' | 'Cancelled'>([['Completed', 85], ['Failed', 10], ['Cancelled', 5]]);
          if (s !== 'Cancelled' || rnd() < 0.5) {
            clock = created + 60_000 + Math.floor(rnd() * 1_800_000);
            store.update(child.JobId, { Status: 'Running', Progress: Math.floor(rnd() * 100), FirmwareVersionBefore: '2.3.0' });
          }
          clock += Math.floor(rnd() * 900_000);
          const bad = s === 'Failed';
          if (bad) failed++;
          const fw = type === 'firmware-update';
          store.update(child.JobId, { Status: s, TimedOut: bad && rnd() < 0.4, UpdateResult: !fw ? null : bad ? weighted([[5, 3], [4, 3], [8, 4]]) : 1, FirmwareVersionAfter: fw && !bad ? '2.4.1' : null });
        }
        clock = created + 3_600_000;
        store.update(id, { Status: failed > 0 ? 'Failed' : 'Completed', Progress: 100, StatusMessage: `${opts.children} devices: ${failed} failed` });
      });
    }
    // a hub refreshes planner statistics on close and periodically; a fresh file has none
    store.optimize();
  } finally {
    store.close();
  }
  const wk = start + 30 * DAY;
  return { records: opts.parents * (opts.children + 1), ms: performance.now() - t0, sampleParent, week: { from: new Date(wk).toISOString(), to: new Date(wk + 7 * DAY).toISOString() } };
}
