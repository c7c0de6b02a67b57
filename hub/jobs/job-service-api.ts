// What the hub's job service offers to its front ends (the HTTP API, and through it JobClient and `fota job`).
// Types only: hub/jobs/job-service.ts implements it.

import type { JobParameters, JobRecord, JobType } from './job-model.js';
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

export interface JobDetail {
  job: JobRecord;
  /** the children of a parent (empty for a child) */
  children: JobRecord[];
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
  get(jobId: string): JobDetail | undefined;
  /** Throws QueryError for a bad query. */
  query(q: JobQuery): JobPage;
  devices(): DeviceSummary[];
  health(): HubHealth;
}
