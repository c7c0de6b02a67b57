// What `fota job show --wait` asks the hub once a second: the job, its children's counts and only the children a
// frame can show, whatever the size of the job. Also the fleet benchmark's "job show" sample (bench/fleet/lib.ts).

import type { JobClient, JobFilterJson } from '../hub/job-client.js';
import { MAX_PAGE_SIZE } from '../hub/jobs/job-query.js';
import type { JobRecord } from '../hub/jobs/job-model.js';
import { SHOWN_FIRST, totalOf, type JobView } from './job-table.js';

/**
 * A poller of `jobId` that asks for at most `rows` children per request (cut to 1..MAX_PAGE_SIZE, the hub's most per
 * answer). A job of at most `rows` devices comes whole in one GET /v1/jobs/:id?children=rows (its table is the same
 * as ever); a device job comes as a one-row table of itself. A larger one costs
 * GET …?children=0 (the counts) and then one POST /v1/jobs/query per status in SHOWN_FIRST order (running and
 * failed first), each a page of what is still free of `rows`, until `rows` are at hand. Rejects as JobClient does.
 */
export function jobPoller(c: JobClient, jobId: string, rows: number): () => Promise<JobView> {
  const want = Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(rows)));
  let large = false; // more children than `want`: ask for the counts alone (a job's children are fixed when scheduled)
  return async () => {
    const d = await c.getJob(jobId, { children: large ? 0 : want });
    // a device job is shown as a one-row table of itself
    if (d.job.ParentJobId !== '') return { job: d.job, children: [d.job] };
    large = totalOf(d.counts) > want;
    if (!large) return d;
    const picked: JobRecord[] = [];
    for (const status of SHOWN_FIRST) {
      const room = want - picked.length;
      if (room <= 0) break;
      if (d.counts[status] === 0) continue;
      const filter: JobFilterJson = { type: 'and', filters: [eq('ParentJobId', jobId), eq('Status', status)] };
      picked.push(...(await c.queryJobHistory({ filter, sort: 'CreatedTime', page: { size: room } })).jobs);
    }
    return { job: d.job, counts: d.counts, children: picked };
  };
}

const eq = (property: 'ParentJobId' | 'Status', value: string): JobFilterJson => ({ type: 'comparison', property, comparisonOperator: 'eq', value });
