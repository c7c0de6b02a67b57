// GET /v1/jobs/:id's answer: the job, its children's counts per status (one SQL aggregate) and one bounded page
// of its children in creation order, so an answer never grows with the fleet. Shared by JobService and test fakes.

import { ATTENTION_ORDER, zeroCounts, type JobRecord, type JobStatus } from './job-model.js';
import { MAX_PAGE_SIZE, parseJobQuery, type JobQuery } from './job-query.js';
import type { ChildrenPage, JobDetail } from './job-service-api.js';
import type { JobStore } from './job-store.js';

/** Children per answer when the caller does not say (a 100-device job still comes whole, as before paging). */
export const DEFAULT_CHILDREN_PAGE = 100;
/** The most children one answer carries; more are paged with the answer's nextPage. */
export const MAX_CHILDREN_PAGE = MAX_PAGE_SIZE;

/**
 * The children of `parentId` in creation order, as a query of the query language: its `nextPage` cursors work with
 * POST /v1/jobs/query for the same filter and sort (the dashboard's children table asks the same).
 * Throws QueryError for a bad cursor or size.
 */
export function childrenQuery(parentId: string, size: number, cursor?: string, status?: JobStatus): JobQuery {
  const ofParent = { type: 'comparison', property: 'ParentJobId', comparisonOperator: 'eq', value: parentId };
  const filter = status === undefined ? ofParent : { type: 'and', filters: [ofParent, { type: 'comparison', property: 'Status', comparisonOperator: 'eq', value: status }] };
  return parseJobQuery({ filter, sort: 'CreatedTime', page: cursor === undefined ? { size } : { size, cursor } });
}

/**
 * The job `jobId` (undefined when there is none), its children's counts and up to `page.size` children after
 * `page.cursor` (size 0: counts only), or the first `page.size` in ATTENTION_ORDER (`order: 'attention'`). A device
 * job has no children: zero counts, []. The job, the counts and the page come from one snapshot (JobStore.snapshot),
 * so a child is counted and listed in the same status.
 * Throws QueryError (bad cursor, size above MAX_CHILDREN_PAGE), JobStoreError.
 */
export function jobDetail(store: JobStore, jobId: string, page: ChildrenPage = { size: DEFAULT_CHILDREN_PAGE }): JobDetail | undefined {
  return store.snapshot(() => detail(store, jobId, page));
}

function detail(store: JobStore, jobId: string, page: ChildrenPage): JobDetail | undefined {
  const job = store.get(jobId);
  if (!job) return undefined;
  if (job.ParentJobId !== '') return { job, counts: zeroCounts(), children: [] };
  const counts = store.summary(jobId);
  if (page.size === 0) return { job, counts, children: [] };
  if (page.order === 'attention') {
    // one page per status, only where the counts say there are children, until `size` are at hand
    const children: JobRecord[] = [];
    for (const status of ATTENTION_ORDER) {
      const room = page.size - children.length;
      if (room <= 0) break;
      if (counts[status] > 0) children.push(...store.query(childrenQuery(jobId, room, undefined, status)).jobs);
    }
    return { job, counts, children };
  }
  const { jobs, nextPage } = store.query(childrenQuery(jobId, page.size, page.cursor));
  return nextPage === undefined ? { job, counts, children: jobs } : { job, counts, children: jobs, nextPage };
}
