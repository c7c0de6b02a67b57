// What the hub's job service offers to its front ends (the HTTP API, and through it JobClient and `fota job`).
// Types only: hub/jobs/job-service.ts implements it.

import type { JobParameters, JobRecord, JobStatus, JobType } from './job-model.js';
import type { JobQuery } from './job-query.js';
import type { JobPage } from './job-store.js';

export interface ScheduleRequest {
  /** the parent job id, chosen by the caller (1-64 characters A-Z a-z 0-9 . _ : -) */
  jobId: string;
  type: JobType;
  /** one child job per device */
  deviceIds: string[];
  parameters: JobParameters;
}

/** GET /v1/jobs/:id: a job, how many of its children are in each status, and one page of them. */
export interface JobDetail {
  job: JobRecord;
  /** the children per status, counted in SQL over all of them (all 0 for a device job) */
  counts: Record<JobStatus, number>;
  /** one page of the children of a parent, in creation order (empty for a device job, or when 0 were asked for) */
  children: JobRecord[];
  /** more children follow: pass as `cursor` (same ID) for the next page; absent on the last page */
  nextPage?: string;
}
/** Which children GET /v1/jobs/:id carries: `size` (0 = none, counts only; at most 1000) after `cursor`. */
export interface ChildrenPage {
  size: number;
  cursor?: string;
  /**
   * 'created' (default): creation order, paged with `cursor`. 'attention': the first `size` children in
   * ATTENTION_ORDER of their status (running, failed, queued, cancelled, completed; each in creation order), no cursor:
   * one poll's view of a job too large to show whole (`fota job show --wait`).
   */
  order?: 'created' | 'attention';
}

/** A device as the hub knows it from registrations and presence. */
export interface DeviceSummary {
  deviceId: string;
  /** null when unknown: no presence message seen yet, or the hub has lost its broker connection */
  online: boolean | null;
  agentVersion: string;
  /** when the hub heard the last Register/Update (the hub's clock, ISO), null when none seen */
  registeredAt: string | null;
}

/** GET /v1/health: whether the hub can do its work now. */
export interface HubHealth {
  /** connected to the broker and the job database takes writes */
  ok: boolean;
  /** `since`: ISO time of the last change of `connected` */
  broker: { connected: boolean; since: string };
  /** `lockedSeconds`: how long another process has held the database's lock (0 when writable) */
  database: { writable: boolean; lockedSeconds: number };
}

export interface JobServiceApi {
  /** Creates the parent and its children (Queued) and starts running them. Throws JobStoreError ('invalid-job', 'duplicate-job'). */
  schedule(req: ScheduleRequest): JobRecord;
  /** Cancels a parent (pending children Cancelled, running ones cancelled on the device where LwM2M allows) or one child. Throws JobStoreError('not-found'). */
  cancel(jobId: string): JobRecord;
  /** The job, its children's counts and one page of them (default 100). Throws QueryError for a bad page. */
  get(jobId: string, page?: ChildrenPage): JobDetail | undefined;
  /** Throws QueryError for a bad query. */
  query(q: JobQuery): JobPage;
  devices(): DeviceSummary[];
  health(): HubHealth;
}
