// GET /v1/jobs/:id's answer: the job, its children's counts per status (one SQL aggregate) and one bounded page
// of its children in creation order, so an answer never grows with the fleet. Shared by JobService and test fakes.

import { zeroCounts } from './job-model.js';
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
export function childrenQuery(parentId: string, size: number, cursor?: string): JobQuery {
  const filter = { type: 'comparison', property: 'ParentJobId', comparisonOperator: 'eq', value: parentId };
  return parseJobQuery({ filter, sort: 'CreatedTime', page: cursor === undefined ? { size } : { size, cursor } });
}

/**
 * The job `jobId` (undefined when there is none), its children's counts and up to `page.size` children after
 * `page.cursor` (size 0: counts only). A device job has no children: zero counts, []. The job, the counts and the
 * page come from one snapshot (JobStore.snapshot), so a child is counted and listed in the same status.
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
  const { jobs, nextPage } = store.query(childrenQuery(jobId, page.size, page.cursor));
  return nextPage === undefined ? { job, counts, children: jobs } : { job, counts, children: jobs, nextPage };
}
