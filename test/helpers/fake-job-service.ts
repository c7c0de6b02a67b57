// An in-memory JobServiceApi on a REAL JobStore (":memory:" or a file): schedule() creates the records, and a
// test drives the children (Running, Completed, Failed with results) the way the real runner would.

import type { JobPatch, JobRecord, JobStatus } from '../../hub/jobs/job-model.js';
import { isTerminal } from '../../hub/jobs/job-model.js';
import type { JobQuery } from '../../hub/jobs/job-query.js';
import { jobDetail } from '../../hub/jobs/job-detail.js';
import type { ChildrenPage, DeviceSummary, HubHealth, JobDetail, JobServiceApi, ScheduleRequest } from '../../hub/jobs/job-service-api.js';
import { JobStore, type JobPage } from '../../hub/jobs/job-store.js';

type Method = 'schedule' | 'cancel' | 'get' | 'query' | 'devices' | 'health';

export class FakeJobService implements JobServiceApi {
  readonly store: JobStore;
  /** what devices() answers */
  deviceList: DeviceSummary[] = [];
  /** what health() answers */
  healthState: HubHealth = { ok: true, broker: { connected: true, since: '2024-01-01T00:00:00.000Z' }, database: { writable: true, lockedSeconds: 0 } };
  /** every call, in order: the API's routing is checked against it */
  readonly calls: { method: Method; arg?: unknown }[] = [];
  private readonly faults = new Map<Method, unknown>();

  constructor(path = ':memory:', now?: () => number) {
    this.store = JobStore.open(path, now ? { now } : {});
  }

  /** The next call of `method` throws `error` (to test how the API answers unexpected failures). */
  failNext(method: Method, error: unknown): void {
    this.faults.set(method, error);
  }

  private enter(method: Method, arg?: unknown): void {
    this.calls.push(arg === undefined ? { method } : { method, arg });
    if (this.faults.has(method)) {
      const e = this.faults.get(method);
      this.faults.delete(method);
      throw e;
    }
  }

  schedule(req: ScheduleRequest): JobRecord {
    this.enter('schedule', req);
    return this.store.createJob({ JobId: req.jobId, Type: req.type, Parameters: req.parameters }, req.deviceIds.map((DeviceId) => ({ DeviceId })));
  }

  cancel(jobId: string): JobRecord {
    this.enter('cancel', jobId);
    const job = this.store.get(jobId);
    if (!job) return this.store.update(jobId, {}); // throws JobStoreError('not-found')
    if (isTerminal(job.Status)) return job;
    if (job.ParentJobId !== '') {
      const child = this.store.update(jobId, { Status: 'Cancelled', StatusMessage: 'cancelled by the user' });
      this.settleParent(job.ParentJobId);
      return child;
    }
    this.store.batch(() => {
      for (const c of this.store.children(jobId)) if (!isTerminal(c.Status)) this.store.update(c.JobId, { Status: 'Cancelled', StatusMessage: 'cancelled by the user' });
      this.store.update(jobId, { Status: 'Cancelled', StatusMessage: 'cancelled by the user' });
    });
    return this.store.get(jobId)!;
  }

  get(jobId: string, page?: ChildrenPage): JobDetail | undefined {
    this.enter('get', page === undefined ? jobId : { jobId, page });
    return jobDetail(this.store, jobId, page);
  }

  query(q: JobQuery): JobPage {
    this.enter('query', q);
    return this.store.query(q);
  }

  health(): HubHealth {
    this.enter('health');
    return this.healthState;
  }

  devices(): DeviceSummary[] {
    this.enter('devices');
    return this.deviceList;
  }

  /**
   * Drives the child of `parentId` on `deviceId` (as the runner would) and then the parent: Running once a
   * child runs, and when every child ended Completed (all completed), Failed (any failed) or Cancelled.
   */
  setChild(parentId: string, deviceId: string, patch: JobPatch, log?: string): JobRecord {
    const id = `${parentId}~${deviceId}`;
    const rec = this.store.update(id, patch);
    if (log !== undefined) this.store.appendLog(id, { step: log });
    this.settleParent(parentId);
    return this.store.get(id) ?? rec;
  }

  /** Updates the parent from its children. */
  private settleParent(parentId: string): void {
    const parent = this.store.get(parentId);
    if (!parent || isTerminal(parent.Status)) return;
    const n = this.store.summary(parentId);
    const total = Object.values(n).reduce((a, b) => a + b, 0);
    const ended = n.Completed + n.Failed + n.Cancelled;
    let status: JobStatus = ended > 0 || n.Running > 0 ? 'Running' : 'Queued';
    if (ended === total) status = n.Failed > 0 ? 'Failed' : n.Cancelled > 0 ? 'Cancelled' : 'Completed';
    const message = `${n.Completed} completed, ${n.Failed} failed, ${n.Cancelled} cancelled of ${total}`;
    this.store.update(parentId, { Status: status, StatusMessage: message, Progress: Math.floor((ended * 100) / total) });
  }

  close(): void {
    this.store.close();
  }
}
