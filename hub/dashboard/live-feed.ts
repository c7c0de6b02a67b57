// What the open dashboards are told as it happens: fleet jobs (with their children's counts and the summed
// progress), the children of the job a dashboard shows, and which devices changed. Pushed over EventStreams.
//
// INVARIANTS
// - Changes are coalesced: between two flushes a job or device id is held once (sets of ids, never records), so a
//   burst of 10,000 child updates costs one read per watched child and one rollup per parent, not 10,000 frames.
// - At most one flush per `minGapMs`; the first change after a quiet spell goes out on the next turn of the loop.
// - With no dashboard open nothing is collected (no cost to the hub).
// - A dashboard gets at most `maxChildEvents` child frames per flush; past that it is told to reload its page.

import type { JobRecord, JobStatus } from '../jobs/job-model.js';
import type { JobQuery } from '../jobs/job-query.js';
import type { JobPage } from '../jobs/job-store.js';
import { frame, type EventStreams, type StreamClient } from './event-stream.js';

/** What a dashboard follows besides the fleet jobs: the children of one job. */
export interface FeedFilter {
  job?: string;
}

/** The job store as the feed uses it (JobStore has it). */
export interface FeedSource {
  watch(fn: (job: JobRecord) => void): () => void;
  get(jobId: string): JobRecord | undefined;
  rollup(parentId: string, failedLimit?: number): { counts: Record<JobStatus, number>; progressSum: number };
  query(q: JobQuery): JobPage;
}

/** the most unfinished fleet jobs a new dashboard is sent at once (the rest come as they change) */
const SNAPSHOT_JOBS = 100;
const UNFINISHED_PARENTS: JobQuery = {
  filter: {
    type: 'and',
    filters: [
      { type: 'comparison', property: 'ParentJobId', operator: 'eq', value: '' },
      { type: 'or', filters: [{ type: 'comparison', property: 'Status', operator: 'eq', value: 'Running' }, { type: 'comparison', property: 'Status', operator: 'eq', value: 'Queued' }] },
    ],
  },
  sort: [{ property: 'CreatedTime', order: 'desc' }],
  page: { size: SNAPSHOT_JOBS },
};

/** A job as an event carries it: the record without its log (fetched with the job when needed). */
export type JobSummary = Omit<JobRecord, 'Log'>;

export function summary(job: JobRecord): JobSummary {
  const { Log: _log, ...rest } = job;
  return rest;
}

export interface LiveFeedOptions {
  minGapMs?: number;
  maxChildEvents?: number;
  /** how many changed device ids a `devices` frame names (the count is always exact) */
  maxDeviceIds?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export class LiveFeed {
  private readonly parents = new Set<string>();
  /** parent id → its children that changed */
  private readonly children = new Map<string, Set<string>>();
  private readonly devices = new Set<string>();
  private timer: NodeJS.Immediate | NodeJS.Timeout | undefined;
  private last = -Infinity;
  private off: (() => void) | undefined;

  constructor(
    private readonly source: FeedSource,
    private readonly streams: EventStreams<FeedFilter>,
    private readonly opts: LiveFeedOptions = {},
  ) {}

  start(): void {
    this.off = this.source.watch((job) => this.jobChanged(job));
  }

  stop(): void {
    this.off?.();
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = undefined;
  }

  jobChanged(job: Pick<JobRecord, 'JobId' | 'ParentJobId'>): void {
    if (this.streams.size === 0) return;
    if (job.ParentJobId === '') this.parents.add(job.JobId);
    else {
      let set = this.children.get(job.ParentJobId);
      if (!set) this.children.set(job.ParentJobId, (set = new Set()));
      set.add(job.JobId);
    }
    this.schedule();
  }

  deviceChanged(deviceId: string): void {
    if (this.streams.size === 0) return;
    this.devices.add(deviceId);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = this.last + (this.opts.minGapMs ?? 200) - performance.now();
    const run = () => {
      this.timer = undefined;
      this.last = performance.now();
      try {
        this.flush();
      } catch (e) {
        // a locked or closed database: this flush is lost, the next change brings the state again
        this.opts.log?.('dashboard live feed: a flush failed', { error: String(e) });
      }
    };
    this.timer = wait > 0 ? setTimeout(run, wait) : setImmediate(run);
  }

  /** The frames of every change since the last flush, to every dashboard. */
  flush(): void {
    const parentIds = new Set([...this.parents, ...this.children.keys()]);
    const children = new Map(this.children);
    const devices = [...this.devices];
    this.parents.clear();
    this.children.clear();
    this.devices.clear();
    let common = '';
    for (const id of parentIds) {
      const job = this.source.get(id);
      if (job) common += this.jobFrame(job);
    }
    if (devices.length > 0) common += frame('devices', { changed: devices.length, ids: devices.slice(0, this.opts.maxDeviceIds ?? 200) });
    const perJob = new Map<string, string>();
    this.streams.send((c: StreamClient<FeedFilter>) => {
      const watched = c.filter.job;
      if (watched === undefined || !children.has(watched)) return common;
      let own = perJob.get(watched);
      if (own === undefined) perJob.set(watched, (own = this.childFrames(watched, children.get(watched) ?? new Set())));
      return common + own;
    });
  }

  /** A fleet job's frame: its record, its children's counts and their summed progress. */
  private jobFrame(job: JobRecord): string {
    const { counts, progressSum } = this.source.rollup(job.JobId, 0);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    return frame('job', { job: summary(job), counts, progress: total === 0 ? job.Progress : Math.floor(progressSum / total) });
  }

  /** What a dashboard that just connected is sent after hello: the unfinished fleet jobs, and the job it follows. */
  snapshot(filter: FeedFilter): string {
    const jobs = this.source.query(UNFINISHED_PARENTS).jobs;
    let out = jobs.map((j) => this.jobFrame(j)).join('');
    const watched = filter.job === undefined ? undefined : this.source.get(filter.job);
    if (watched && watched.ParentJobId === '' && !jobs.some((j) => j.JobId === watched.JobId)) out += this.jobFrame(watched);
    return out;
  }

  private childFrames(parentId: string, ids: Set<string>): string {
    if (ids.size > (this.opts.maxChildEvents ?? 200)) return frame('children', { parent: parentId, changed: ids.size });
    let out = '';
    for (const id of ids) {
      const job = this.source.get(id);
      if (job) out += frame('child', { job: summary(job) });
    }
    return out;
  }
}
