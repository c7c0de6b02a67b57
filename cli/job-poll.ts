// What `fota job show --wait` asks the hub once a second: the job, its children's counts and only the children it
// can show, whatever the size of the job. Also the fleet benchmark's "job show" sample (bench/fleet/lib.ts).

import { JobClientError, type JobClient, type JobFilterJson } from '../hub/job-client.js';
import type { JobRecord, JobStatus } from '../hub/jobs/job-model.js';
import { MAX_PAGE_SIZE } from '../hub/jobs/job-query.js';
import { SHOWN_FIRST, totalOf, type JobView } from './job-table.js';

/**
 * A poller of `jobId` that asks for at most `rows` children per request (cut to 1..MAX_PAGE_SIZE, the hub's most per
 * answer). A job of at most `rows` devices comes whole in one GET /v1/jobs/:id?children=rows (its table is the same
 * as ever); a device job comes as a one-row table of itself. A larger one (known from the first answer's counts):
 * - 'screen' (a terminal): one GET …?children=rows&order=attention (the counts and the first `rows` children in
 *   SHOWN_FIRST order, running and failed first, from one snapshot of the hub's database). A hub that refuses
 *   `order` (400, an older hub) is asked as before: GET …?children=0 (the counts), then one POST /v1/jobs/query per
 *   status in SHOWN_FIRST order, each a page of what is still free of `rows`, until `rows` are at hand;
 * - 'log' (a pipe): GET …?children=0, then one page of the devices that failed since the last poll (keyset on
 *   EndTime, JobId: each failure comes once; more than `rows` at once come over the next polls).
 * Rejects as JobClient does.
 */
export function jobPoller(c: JobClient, jobId: string, rows: number, mode: 'screen' | 'log' = 'screen'): () => Promise<JobView> {
  const want = Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(rows)));
  const ofJob = (...more: JobFilterJson[]): JobFilterJson => ({ type: 'and', filters: [cmp('ParentJobId', 'eq', jobId), ...more] });
  let large = false; // more children than `want`: ask for the counts alone (a job's children are fixed when scheduled)
  let lastFailed: JobRecord | undefined; // 'log': the last failure handed out
  let attention = mode === 'screen'; // the hub answers order=attention (until it refuses it)

  const shownFirst = async (counts: Record<JobStatus, number>): Promise<JobRecord[]> => {
    const picked: JobRecord[] = [];
    for (const status of SHOWN_FIRST) {
      const room = want - picked.length;
      if (room <= 0) break;
      if (counts[status] === 0) continue;
      picked.push(...(await c.queryJobHistory({ filter: ofJob(cmp('Status', 'eq', status)), sort: 'CreatedTime', page: { size: room } })).jobs);
    }
    return picked;
  };
  const failedSince = async (): Promise<JobRecord[]> => {
    const t = lastFailed?.EndTime;
    const after: JobFilterJson[] = lastFailed && t ? [{ type: 'or', filters: [cmp('EndTime', 'gt', t), { type: 'and', filters: [cmp('EndTime', 'eq', t), cmp('JobId', 'gt', lastFailed.JobId)] }] }] : [];
    const { jobs } = await c.queryJobHistory({ filter: ofJob(cmp('Status', 'eq', 'Failed'), ...after), sort: ['EndTime', 'JobId'], page: { size: want } });
    lastFailed = jobs[jobs.length - 1] ?? lastFailed;
    return jobs;
  };

  return async () => {
    if (large && attention) {
      try {
        const d = await c.getJob(jobId, { children: want, order: 'attention' });
        return { job: d.job, counts: d.counts, children: d.children };
      } catch (e) {
        if (!(e instanceof JobClientError && e.status === 400)) throw e;
        attention = false;
      }
    }
    const d = await c.getJob(jobId, { children: large ? 0 : want });
    if (d.job.ParentJobId !== '') return { job: d.job, children: [d.job] };
    large = totalOf(d.counts) > want;
    if (!large) return d;
    const children = mode === 'screen' ? await shownFirst(d.counts) : d.counts.Failed > 0 ? await failedSince() : [];
    return { job: d.job, counts: d.counts, children };
  };
}

const cmp = (property: 'ParentJobId' | 'Status' | 'EndTime' | 'JobId', comparisonOperator: 'eq' | 'gt', value: string): JobFilterJson => ({ type: 'comparison', property, comparisonOperator, value });
