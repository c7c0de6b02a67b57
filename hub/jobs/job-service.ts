// The hub's job runner: schedules parent jobs fanned out to one child per device, runs children through their
// driver with rollout control (max in flight, abort on failure ratio), timeouts and cancel, keeps every change in
// the JobStore, and after a restart picks unfinished jobs up again from the devices' state.
//
// INVARIANTS
// - A child has at most one driver run at a time (`running`); its terminal status is written exactly once.
// - A parent turns terminal only after every child is terminal; its message aggregates the children.
// - A child's timeout counts from its StartTime (persisted), so a hub restart does not extend it.
// - A locked database never ends a child nor the hub: a driver that meets the lock is paused at the StoreGate and
//   started again from the device's state once the database is writable (as after a hub restart); the child's
//   end is written when it can be. No promise of a child's run is left to reject unhandled.
// - Save before acting: a request leaves for a device only once what its driver wrote before is committed (the store
//   commits a turn's writes at its end), and schedule() and cancel() answer only once their writes are committed.
// - Writes undone after the fact (a failed commit, JobStore.onCommitFailure) leave no driver acting on them: every
//   driver is stopped without writing and the jobs are picked up again from the database and the devices' state,
//   as after a hub restart (resync).

import type { Response } from '../../protocol/messages.js';
import { isValidEndpoint } from '../../protocol/topics.js';
import { LinkDown, RequestTimeout, type HubLink } from '../hub-link.js';
import { DeviceDirectory } from './device-directory.js';
import type { Driver, DriverContext, RequestBody } from './driver.js';
import { DeviceRefused } from './driver.js';
import { configurationDriver, configToResources, factoryResetDriver, readDriver, rebootDriver, writeDriver } from './drivers/device-drivers.js';
import { firmwareUpdateDriver } from './drivers/firmware-update.js';
import { checkParameters, isTerminal, JOB_STATUSES, JobStoreError, MAX_CHILDREN, type JobPatch, type JobRecord, type JobStatus, type JobType } from './job-model.js';
import type { JobQuery } from './job-query.js';
import { jobDetail } from './job-detail.js';
import type { ChildrenPage, DeviceSummary, HubHealth, JobDetail, JobServiceApi, ScheduleRequest } from './job-service-api.js';
import type { JobPage, JobStore } from './job-store.js';
import { isBusy, StoreGate } from './store-gate.js';

/** After the hub's broker link comes up, how long the retained registrations may take to arrive before a device counts as never seen. */
const RETAINED_GRACE_MS = 3000;

/** How often a running parent's Progress and message are refreshed at most (refreshSoon); its end is written at once. */
export const PARENT_REFRESH_MS = 1000;

/** the reason a request's registration watch is aborted with once the request has settled */
const REQUEST_SETTLED = new Error('request settled');

/** the reason every driver is stopped with when the store undid writes (resync): the child is driven again */
const RESYNC = 'resync';

/** A parent's message: "N devices: C succeeded, F failed[, X cancelled][ (failed: a, b, …)]". */
function describeChildren(counts: Record<JobStatus, number>, failedDevices: string[]): string {
  const total = JOB_STATUSES.reduce((n, s) => n + counts[s], 0);
  let message = `${total} device${total === 1 ? '' : 's'}: ${counts.Completed} succeeded, ${counts.Failed} failed`;
  if (counts.Cancelled > 0) message += `, ${counts.Cancelled} cancelled`;
  if (counts.Failed > 0) message += ` (failed: ${failedDevices.join(', ')}${counts.Failed > failedDevices.length ? ', …' : ''})`;
  return message;
}

const DRIVERS: Record<JobType, Driver> = {
  'firmware-update': firmwareUpdateDriver,
  reboot: rebootDriver,
  'factory-reset': factoryResetDriver,
  'configuration-update': configurationDriver,
  'read-device-properties': readDriver,
  'write-device-properties': writeDriver,
};

export interface JobServiceOptions {
  store: JobStore;
  /** a HubLink connected with `fleet: true` */
  link: HubLink;
  now?: () => number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** how long to wait for one answer before asking again (ms) */
  requestTimeoutMs?: number;
  /** the most devices the hub keeps track of (DEFAULT_MAX_DEVICES) */
  maxDevices?: number;
}

interface Run {
  abort: AbortController;
  done: Promise<void>;
}

export class JobService implements JobServiceApi {
  readonly devices_: DeviceDirectory;
  private readonly running = new Map<string, Run>();
  private readonly cancelled = new Set<string>();
  private readonly now: () => number;
  private readonly log: NonNullable<JobServiceOptions['log']>;
  private readonly gate: StoreGate;
  /** aborted by stop(): every wait of the service ends */
  private readonly halt = new AbortController();
  /** parents whose pump waits for the database */
  private readonly pumpLater = new Set<string>();
  /** parents whose pump() is due at the next turn of the event loop (pumpSoon) */
  private readonly pumpDue = new Set<string>();
  /** refreshSoon: when each running parent's progress was last written (performance.now()), and the pending ones */
  private readonly refreshedAt = new Map<string, number>();
  private readonly refreshTimers = new Map<string, NodeJS.Timeout>();
  private stopped = false;
  private off: (() => void) | undefined;
  private readonly offCommitFailure: () => void;
  /** resync(): the one running, and whether another failure came while it ran */
  private resyncing: Promise<void> | undefined;
  private resyncAgain = false;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly opts: JobServiceOptions) {
    this.now = opts.now ?? Date.now;
    this.log = opts.log ?? (() => undefined);
    this.devices_ = new DeviceDirectory({ log: this.log, ...(opts.maxDevices !== undefined ? { maxDevices: opts.maxDevices } : {}) });
    this.gate = new StoreGate({ probe: () => opts.store.probeWrite(), log: this.log });
    this.offCommitFailure = opts.store.onCommitFailure((f) => {
      this.log('job database commit failed: writes the job runner had made were undone; every running child is driven again from the database and the device', {
        error: f.error.message,
        undone: f.count,
        writes: f.lost.slice(0, 20),
      });
      this.resync();
    });
  }

  health(): HubHealth {
    const { connected, since } = this.opts.link.state();
    const broker = { connected, since };
    const database = { writable: !this.gate.closed, lockedSeconds: Math.round(this.gate.lockedForMs() / 1000) };
    return { ok: broker.connected && database.writable, broker, database };
  }

  /** Follows the fleet and resumes every unfinished job. */
  async start(): Promise<void> {
    const d = this.devices_;
    this.off = this.opts.link.on({
      registration: (ep, r) => d.onRegistration(ep, r),
      presence: (ep, p) => d.onPresence(ep, p),
      notification: (ep, n) => d.onNotification(ep, n),
      // while the hub is cut off it cannot know who is online; retained presence tells again once it is back
      link: (up) => (up ? undefined : d.forgetPresence()),
    });
    // forget junk entries now and then (never while cut off from the broker: nobody could be heard then)
    this.sweeper = setInterval(() => {
      if (this.opts.link.connected) d.sweep();
    }, 60_000);
    this.sweeper.unref();
    // retained registrations and presence arrive first: give them a moment before drivers look at them
    await new Promise((r) => setTimeout(r, 300));
    await this.resume();
  }

  /** Picks up every unfinished job from the database: at start, and after writes were undone (resync). */
  private async resume(): Promise<void> {
    const parents = new Set<string>();
    const unfinished = await this.gate.run(() => this.opts.store.listUnfinished(), this.halt.signal);
    if (this.stopped) return;
    for (const job of unfinished) parents.add(job.ParentJobId || job.JobId);
    // children that were running when the hub stopped: their drivers pick up from the devices' state
    for (const job of unfinished) if (job.ParentJobId && job.Status === 'Running') this.startChild(job);
    for (const id of parents) {
      this.log('resuming job', { jobId: id });
      this.pump(id);
    }
  }

  /**
   * After the store undid writes its callers had been told were made: what the drivers believe (their steps, a
   * child's start or end) may be gone from the database. Stops every driver without writing its end, then resumes
   * from the database, whose children are driven again from their devices' state (as after a hub restart).
   */
  private resync(): void {
    if (this.stopped) return;
    if (this.resyncing) {
      this.resyncAgain = true;
      return;
    }
    this.resyncing = (async () => {
      do {
        this.resyncAgain = false;
        // at once (this runs from the store's report): a driver awaiting its commit sees the reason when it wakes
        const runs = [...this.running.values()];
        for (const r of runs) r.abort.abort(RESYNC);
        await Promise.allSettled(runs.map((r) => r.done));
        if (this.stopped) return;
        await this.resume();
      } while (this.resyncAgain && !this.stopped);
    })()
      .catch((e: unknown) => {
        if (!this.stopped) this.log('job runner could not resume after undone writes (it resumes on the next hub start)', { error: String(e) });
      })
      .finally(() => {
        this.resyncing = undefined;
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.off?.();
    this.offCommitFailure();
    clearInterval(this.sweeper);
    for (const t of this.refreshTimers.values()) clearTimeout(t);
    this.refreshTimers.clear();
    this.halt.abort('stopping');
    this.gate.close();
    for (const r of this.running.values()) r.abort.abort('stopping');
    await Promise.allSettled([...this.running.values()].map((r) => r.done));
  }

  schedule(req: ScheduleRequest): JobRecord {
    if (!req || typeof req !== 'object') throw new JobStoreError('invalid-job', 'the request must be an object');
    const params = checkParameters(req.type, req.parameters);
    if (!Array.isArray(req.deviceIds) || req.deviceIds.length === 0) throw new JobStoreError('invalid-job', 'deviceIds must list at least one device');
    const bad = req.deviceIds.find((d) => typeof d !== 'string' || !isValidEndpoint(d));
    if (bad !== undefined) throw new JobStoreError('invalid-job', `device id ${JSON.stringify(bad)} is invalid`);
    if (new Set(req.deviceIds).size !== req.deviceIds.length) throw new JobStoreError('invalid-job', 'deviceIds lists a device twice');
    if (req.type === 'firmware-update' && !/^https?:\/\/./.test(params.packageUri ?? '')) throw new JobStoreError('invalid-job', 'parameters.packageUri must be an http:// or https:// URI');
    if (req.type === 'configuration-update') {
      try {
        configToResources(params.config ?? {});
      } catch (e) {
        throw new JobStoreError('invalid-job', `parameters.config: ${(e as Error).message}`);
      }
    }
    const parent = this.opts.store.createJob(
      { JobId: req.jobId, Type: req.type, Parameters: params, StatusMessage: `${req.deviceIds.length} device(s) queued` },
      req.deviceIds.map((DeviceId) => ({ DeviceId })),
    );
    this.log('job scheduled', { jobId: parent.JobId, type: req.type, devices: req.deviceIds.length });
    this.pump(parent.JobId);
    // the caller is told "scheduled": the job must be committed first (a failed commit throws, and resyncs)
    this.opts.store.flush();
    return this.opts.store.get(parent.JobId) ?? parent;
  }

  cancel(jobId: string): JobRecord {
    const job = this.opts.store.get(jobId);
    if (!job) throw new JobStoreError('not-found', `no job ${jobId}`);
    if (isTerminal(job.Status)) return job;
    const children = job.ParentJobId ? [job] : this.opts.store.children(jobId);
    if (!job.ParentJobId) this.cancelled.add(jobId);
    for (const c of children) {
      if (isTerminal(c.Status)) continue;
      const run = this.running.get(c.JobId);
      if (run) run.abort.abort('cancelled');
      else this.opts.store.update(c.JobId, { Status: 'Cancelled', StatusMessage: 'cancelled before it started' });
    }
    this.pump(job.ParentJobId || jobId);
    this.opts.store.flush();
    return this.opts.store.get(jobId)!;
  }

  get(jobId: string, page?: ChildrenPage): JobDetail | undefined {
    return jobDetail(this.opts.store, jobId, page);
  }

  query(q: JobQuery): JobPage {
    return this.opts.store.query(q);
  }

  devices(): DeviceSummary[] {
    return this.devices_.list();
  }

  /**
   * Starts what may start, aborts the rest when the failure ratio is passed, and ends the parent when done.
   * Called at schedule time and after each burst of child ends (pumpSoon): it works on aggregates (SQL counts and
   * the next queued children), never on the whole list of children, so a fleet of N devices costs O(N) and not O(N²).
   */
  private pump(parentId: string): void {
    if (this.stopped) return;
    try {
      if (this.gate.closed) throw this.gate.busyError(`run job ${parentId}`);
      this.pumpNow(parentId);
    } catch (e) {
      if (!isBusy(e)) return this.log('job runner error (the job resumes on the next event or hub start)', { jobId: parentId, error: String(e) });
      this.gate.trip();
      if (this.pumpLater.has(parentId)) return;
      this.pumpLater.add(parentId);
      this.gate.wait(this.halt.signal).then(
        () => {
          this.pumpLater.delete(parentId);
          this.pump(parentId);
        },
        () => undefined,
      );
    }
  }

  /**
   * pump() once per parent per turn of the event loop. Devices of a wave finish together, and one socket read can
   * end a hundred children: each pump() reads the job's aggregates twice (O(children) in SQLite), so one per child
   * kept the event loop, and every API answer, waiting for up to 1.3 s at 6,400 devices (docs/benchmarks.md).
   */
  private pumpSoon(parentId: string): void {
    if (this.pumpDue.has(parentId)) return;
    this.pumpDue.add(parentId);
    setImmediate(() => {
      this.pumpDue.delete(parentId);
      this.pump(parentId);
    });
  }

  private pumpNow(parentId: string): void {
    const store = this.opts.store;
    const parent = store.get(parentId);
    if (!parent || isTerminal(parent.Status)) return;
    if (parent.Status === 'Queued') store.update(parentId, { Status: 'Running' });
    const p = parent.Parameters;
    // counts only (an index-only count): the progress sum reads every child's row, and runs at most once a second
    const counts = store.summary(parentId);
    const failed = counts.Failed;
    const finished = counts.Failed + counts.Completed;
    const aborting = p.abortFailureRatio !== undefined && finished > 0 && failed / finished > p.abortFailureRatio;
    if (aborting || this.cancelled.has(parentId)) {
      const why = aborting ? `not started: the rollout was aborted (${failed} of ${finished} finished devices failed, more than ${p.abortFailureRatio})` : 'cancelled before it started';
      for (const c of store.childrenWithStatus(parentId, 'Queued', MAX_CHILDREN)) store.update(c.JobId, { Status: 'Cancelled', StatusMessage: why });
    } else {
      const room = p.maxInFlight === undefined ? MAX_CHILDREN : p.maxInFlight - counts.Running;
      for (const c of store.childrenWithStatus(parentId, 'Queued', room)) this.startChild(c);
    }
    this.finishParent(parentId);
  }

  /** Ends the parent when no child is open; otherwise refreshes its Progress and message (refreshSoon). */
  private finishParent(parentId: string): void {
    const store = this.opts.store;
    const open = store.summary(parentId);
    if (open.Queued + open.Running > 0) return this.refreshSoon(parentId);
    this.forgetRefresh(parentId);
    const { counts, failedDevices } = store.rollup(parentId);
    const message = describeChildren(counts, failedDevices);
    const status = counts.Failed > 0 ? 'Failed' : this.cancelled.has(parentId) || (counts.Cancelled > 0 && counts.Completed === 0) ? 'Cancelled' : 'Completed';
    store.update(parentId, { Status: status, Progress: 100, StatusMessage: message });
    this.cancelled.delete(parentId);
    this.log('job finished', { jobId: parentId, status, message });
  }

  /**
   * A running parent's Progress and "…; N in progress" message, at most once per PARENT_REFRESH_MS: the progress
   * sum reads every child's row (~10 ms at 10,000 children), and a wave of ends used to pay it per pump, twice
   * (docs/benchmarks.md, fleet). The first change after a quiet interval is written at once, later ones at its end.
   */
  private refreshSoon(parentId: string): void {
    if (this.refreshTimers.has(parentId)) return;
    const wait = (this.refreshedAt.get(parentId) ?? -Infinity) + PARENT_REFRESH_MS - performance.now();
    if (wait <= 0) return this.refreshParent(parentId);
    const timer = setTimeout(() => {
      this.refreshTimers.delete(parentId);
      if (this.stopped) return;
      try {
        this.refreshParent(parentId);
      } catch (e) {
        // a locked database: the next child end refreshes it
        this.log('job progress not refreshed (it is on the next change)', { jobId: parentId, error: String(e) });
      }
    }, wait);
    timer.unref();
    this.refreshTimers.set(parentId, timer);
  }

  private refreshParent(parentId: string): void {
    const store = this.opts.store;
    this.refreshedAt.set(parentId, performance.now());
    const parent = store.get(parentId);
    if (!parent || isTerminal(parent.Status)) return this.forgetRefresh(parentId);
    const { counts, progressSum, failedDevices } = store.rollup(parentId);
    const total = JOB_STATUSES.reduce((n, s) => n + counts[s], 0);
    const open = counts.Queued + counts.Running;
    if (open === 0) return; // the pump that follows the last end ends the parent
    store.update(parentId, { Progress: total === 0 ? 100 : Math.floor(progressSum / total), StatusMessage: `${describeChildren(counts, failedDevices)}; ${open} in progress` });
  }

  private forgetRefresh(parentId: string): void {
    clearTimeout(this.refreshTimers.get(parentId));
    this.refreshTimers.delete(parentId);
    this.refreshedAt.delete(parentId);
  }

  private startChild(child: JobRecord): void {
    // one driver per child: after undone writes a running child may read as Queued until resync() stopped its driver
    if (this.running.has(child.JobId)) return;
    const store = this.opts.store;
    if (child.Status === 'Queued') store.update(child.JobId, { Status: 'Running', StatusMessage: 'starting' });
    const job = store.get(child.JobId)!;
    const abort = new AbortController();
    // the wall clock only to carry StartTime across hub runs; the timer itself is monotonic (setTimeout), and a
    // wall clock set back since StartTime cannot make the timeout longer than the job's
    const started = job.StartTime ? Date.parse(job.StartTime) : this.now();
    const full = job.Parameters.timeoutSeconds * 1000;
    const timeoutMs = Math.min(full, Math.max(0, started + full - this.now()));
    const timer = setTimeout(() => abort.abort('timeout'), timeoutMs);
    const unpin = this.devices_.pin(job.DeviceId);
    const done = this.runChild(job, abort.signal)
      .catch((e: unknown) => {
        if (!this.stopped) this.log('child run failed in the hub (it resumes at the next hub start)', { jobId: job.JobId, error: String(e) });
      })
      .finally(() => {
        clearTimeout(timer);
        unpin();
        this.running.delete(job.JobId);
        this.pumpSoon(job.ParentJobId);
      });
    this.running.set(job.JobId, { abort, done });
  }

  /** Drives the child to its end and records it; a locked database pauses it and drives it again afterwards. */
  private async runChild(first: JobRecord, signal: AbortSignal): Promise<void> {
    let job = first;
    const stats = { answered: false };
    for (let paused = false; ; ) {
      if (signal.aborted && signal.reason === RESYNC) return; // paused while resync() stopped it: it drives the child again
      let end: JobPatch | undefined;
      try {
        if (paused) job = this.opts.store.get(job.JobId) ?? job; // the log as it is now: the driver resumes from it
        end = await this.driveOnce(job, signal, stats);
      } catch (e) {
        if (!isBusy(e)) throw e;
        this.gate.trip();
        if (!paused) this.log('child paused: the job database is locked', { jobId: job.JobId });
        paused = true;
        await this.gate.wait(this.halt.signal);
        continue;
      }
      if (end === undefined) return; // the hub stops: the job resumes on the next start
      const patch = end;
      await this.gate.run(() => this.opts.store.update(job.JobId, patch), this.halt.signal);
      this.log('child ended', { jobId: job.JobId, status: patch.Status, message: patch.StatusMessage });
      return;
    }
  }

  /** One run of the child's driver: the end to record, or undefined when the hub stops. Throws only a 'busy' error. */
  private async driveOnce(job: JobRecord, signal: AbortSignal, stats: { answered: boolean }): Promise<JobPatch | undefined> {
    const driver = DRIVERS[job.Type];
    const ctx = this.context(job, signal, stats);
    try {
      const unknown = await this.neverSeen(job, signal);
      if (unknown) return { Status: 'Failed', StatusMessage: unknown };
      const end = await driver.run(ctx);
      return { ...end.patch, Status: end.status, StatusMessage: end.message };
    } catch (e) {
      if (isBusy(e)) throw e;
      if (!signal.aborted) return { Status: 'Failed', StatusMessage: e instanceof DeviceRefused ? e.message : `hub error: ${(e as Error).message}` };
      if (signal.reason === 'stopping' || signal.reason === RESYNC) return undefined;
      const note = !stats.answered
        ? 'the device never answered (offline or unknown)'
        : driver.abort
          ? await driver.abort(ctx, (body) => this.cleanupRequest(job.DeviceId, body)).catch(() => '')
          : '';
      const timedOut = signal.reason === 'timeout';
      // what the child last said (e.g. "downloading 0% (retrying: … ECONNREFUSED …)") is why it did not finish
      let last = '';
      try {
        last = this.opts.store.get(job.JobId)?.StatusMessage ?? '';
      } catch {
        // a locked database: the end is recorded without it
      }
      const lastSaid = last && last !== 'starting' ? `last: ${last}` : '';
      const what = timedOut ? `timed out: the device did not finish within ${job.Parameters.timeoutSeconds} s` : 'cancelled';
      return { Status: timedOut ? 'Failed' : 'Cancelled', TimedOut: timedOut, StatusMessage: [what, lastSaid, note].filter(Boolean).join('; ') };
    }
  }

  /**
   * Why a child's device is unknown, or undefined: the hub has never seen it (no registration, no presence), on the
   * child's first run, unless the job waits for devices. Judged only once the link has been up for
   * RETAINED_GRACE_MS, time for the broker's retained registrations to arrive (a hub that just connected knows
   * nobody yet); a hub without a broker connection does not judge at all (the child waits, as before).
   */
  private async neverSeen(job: JobRecord, signal: AbortSignal): Promise<string | undefined> {
    if (job.Parameters.waitForDevices || job.StatusMessage !== 'starting') return undefined;
    const link = this.opts.link as Partial<Pick<HubLink, 'state'>>;
    const state = link.state?.();
    if (!state?.connected) return undefined;
    const wait = RETAINED_GRACE_MS - state.forMs;
    if (wait > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
      signal.throwIfAborted();
    }
    const d = this.devices_.get(job.DeviceId);
    if (d.regId !== '' || d.online !== null) return undefined;
    return `unknown device: the hub has never seen ${job.DeviceId} register (check the id: fota device list; or schedule with --wait-for-devices to wait for it)`;
  }

  /** A store call from a driver: fails fast while the database is locked, and closes the gate on a lock error. */
  private guarded<T>(what: string, fn: () => T): T {
    if (this.gate.closed) throw this.gate.busyError(what);
    try {
      return fn();
    } catch (e) {
      if (isBusy(e)) this.gate.trip();
      throw e;
    }
  }

  private context(job: JobRecord, signal: AbortSignal, stats: { answered: boolean }): DriverContext {
    const store = this.opts.store;
    const deviceId = job.DeviceId;
    const dir = this.devices_;
    const timeout = this.opts.requestTimeoutMs ?? 5000;
    // the offline note only until the driver says something itself (a rebooting device is offline too)
    let spoke = job.StatusMessage !== 'starting';
    const lastPatch: JobPatch = {};
    // events up to here have been looked at: the driver reads the device after every wake
    let seen = dir.get(deviceId).events;
    return {
      deviceId,
      params: job.Parameters,
      job,
      signal,
      device: () => dir.get(deviceId),
      wake: async (ms) => {
        // an event that came while the driver was busy (awaiting an answer) wakes it at once, not after `ms`
        await dir.waitForEvent(deviceId, ms, signal, seen);
        seen = dir.get(deviceId).events;
      },
      now: this.now,
      patch: (p) => {
        if (p.StatusMessage !== undefined) spoke = true;
        // drivers re-state progress on every look at the device: write only what changed
        const changed = (Object.keys(p) as (keyof JobPatch)[]).filter((k) => JSON.stringify(p[k]) !== JSON.stringify(lastPatch[k]));
        if (changed.length === 0) return;
        this.guarded(`update job ${job.JobId}`, () => store.update(job.JobId, p));
        Object.assign(lastPatch, p);
      },
      step: (step, detail) => this.guarded(`log a step of job ${job.JobId}`, () => store.appendLog(job.JobId, detail === undefined ? { step } : { step, detail })),
      logged: (step) => [...(this.guarded(`read job ${job.JobId}`, () => store.get(job.JobId))?.Log ?? [])].reverse().find((l) => l.step === step),
      request: async (body: RequestBody) => {
        for (;;) {
          signal.throwIfAborted();
          if (!this.opts.link.connected) {
            // a broker outage: go on where we were once the hub is connected again
            await this.opts.link.whenConnected(signal);
            continue;
          }
          if (dir.get(deviceId).online === false) {
            if (!spoke) this.guarded(`update job ${job.JobId}`, () => store.update(job.JobId, { StatusMessage: 'waiting for the device to come online' }));
            await dir.waitForEvent(deviceId, 10_000, signal);
            continue;
          }
          try {
            // save before acting: the device acts on this request only once what the driver wrote is committed
            await store.committed();
            signal.throwIfAborted();
            const res = await this.requestOnce(deviceId, body, timeout, signal);
            if (res === 'reregistered') continue;
            stats.answered = true;
            return res;
          } catch (e) {
            if (e instanceof LinkDown) continue;
            if (!(e instanceof RequestTimeout)) throw e;
            await dir.waitForEvent(deviceId, 1000, signal);
          }
        }
      },
    };
  }

  /**
   * One request; 'reregistered' when the device re-registered before answering (its agent restarted, e.g. the
   * reboot of an update): the caller asks again at once instead of waiting out the timeout.
   */
  private async requestOnce(deviceId: string, body: RequestBody, timeout: number, signal: AbortSignal): Promise<Response | 'reregistered'> {
    const regId = this.devices_.get(deviceId).regId;
    const answer = this.opts.link.request(deviceId, body, timeout);
    if (!regId) return answer;
    // one controller for the child's signal and the end of this request; aborted with a shared reason, not a fresh
    // DOMException (its stack capture cost the hub ~1.5 s of event loop per 10,000-device job)
    const stop = new AbortController();
    const forward = () => stop.abort(signal.reason);
    signal.addEventListener('abort', forward, { once: true });
    const changed = this.devices_.registrationChange(deviceId, regId, stop.signal).then(() => 'reregistered' as const);
    try {
      return await Promise.race([answer, changed]);
    } finally {
      signal.removeEventListener('abort', forward);
      stop.abort(REQUEST_SETTLED);
      changed.catch(() => undefined);
      answer.catch(() => undefined);
    }
  }

  /** One best-effort request after a child was aborted (cancel on the device). */
  private async cleanupRequest(deviceId: string, body: RequestBody) {
    if (this.devices_.get(deviceId).online === false) return undefined;
    return this.opts.link.request(deviceId, body, this.opts.requestTimeoutMs ?? 5000).catch(() => undefined);
  }
}
