// The hub's job history: parent and child device jobs in one SQLite table (better-sqlite3, synchronous).
// Times are ms epoch integers in SQL and ISO 8601 in records. One hub writes a file; other processes may read it.
// The writes of one turn of the event loop are committed together at its end (turn-writer.ts).

import Database from 'better-sqlite3';
import {
  JobStoreError, MAX_CHILDREN, MAX_LOG_ENTRIES, MAX_TEXT_LENGTH, checkDeviceId, checkParameters, checkParentJobId,
  checkPatch, childJobId, isTerminal, JOB_TYPES, zeroCounts,
  type JobParameters, type JobPatch, type JobRecord, type JobStatus, type JobType,
} from './job-model.js';
import { encodeCursor, type JobQuery } from './job-query.js';
import { toSql } from './job-query-sql.js';
import { migrate, PATCH_COLUMNS, toRecord, type Row } from './job-schema.js';
import { isLockError, storeError, TurnWriter, type CommitFailure } from './turn-writer.js';

export type { CommitFailure } from './turn-writer.js';

export interface JobStoreOptions {
  /** the clock, ms since the epoch (default Date.now); injected so tests are deterministic */
  now?: () => number;
  /**
   * 'normal' (default): in WAL mode a commit survives a process crash; a power cut may lose the last
   * commits but never corrupts the file. 'full': fsync on every commit, also survives power cuts.
   * When a write is committed depends on `coalesce`.
   */
  durability?: 'normal' | 'full';
  /**
   * Commit the writes made in one turn of the event loop together (default: true with 'normal', false with 'full').
   * - On: the first write of a turn takes the write lock (BEGIN IMMEDIATE) and later writes of the turn join its
   *   transaction; it commits when the turn ends (a setImmediate: the check phase after the poll phase's I/O
   *   callbacks), or at the first store call of a later turn, whichever comes first. So a write that returned is
   *   committed a moment later, not yet: a crash of the process in the same turn loses it, and so does a commit that
   *   fails (see onCommitFailure). `committed()` and `flush()` wait for, or force, the commit. Reads on this store see
   *   its own uncommitted writes; other connections and processes see them after the commit, all at once.
   * - Off: every write is its own transaction, committed (and with 'full' fsynced) before it returns; a failure
   *   reaches its caller, with nothing changed. 'full' defaults to off because there the caller relies on exactly that.
   */
  coalesce?: boolean;
  /**
   * How long one call waits for another process's lock before it throws JobStoreError('busy') (default 250 ms).
   * SQLite waits synchronously (the event loop stands still), so keep it short and retry asynchronously instead.
   */
  busyTimeoutMs?: number;
}
/** A new fleet job: the parent. Children inherit Type and Parameters unless they bring their own. */
export interface NewJob {
  JobId: string;
  Type: JobType;
  Parameters: JobParameters;
  StatusMessage?: string;
}
export interface NewChildJob {
  DeviceId: string;
  Parameters?: JobParameters;
}
export interface JobPage {
  jobs: JobRecord[];
  /** how many jobs match the filter in all (every page) */
  total: number;
  /** pass as page.cursor (with the same sort) for the next page; absent on the last page */
  nextPage?: string;
}

/**
 * Synchronous job persistence. Every method throws JobStoreError; reads never modify.
 *
 * When a write is committed (with coalescing, the default for 'normal' durability): at the end of the turn of the
 * event loop in which it was made, together with the turn's other writes. A write that throws changed nothing
 * ("nothing was changed" in its message); the other writes of its turn stay. When the commit itself fails (disk full,
 * an I/O error), writes whose callers were told they succeeded are undone: the store rolls the turn back, tells every
 * onCommitFailure listener which writes were lost (an unheard failure is thrown, as an EventEmitter's 'error'), and
 * from then on commits every write before it returns, so that no later failure goes unheard by its caller.
 */
export class JobStore {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly watchers = new Set<(job: JobRecord) => void>();
  private readonly turns: TurnWriter;
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
    coalesce: boolean,
  ) {
    this.turns = new TurnWriter(db, coalesce);
  }

  /**
   * Opens (creating or migrating) the job database at `path` (":memory:" for a throwaway one).
   * Throws JobStoreError('storage') for an unreadable file, another application's file, or a newer schema.
   */
  static open(path: string, options: JobStoreOptions = {}): JobStore {
    let db: Database.Database | undefined;
    try {
      db = new Database(path);
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 250))}`);
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal' && path !== ':memory:') throw new Error(`the file system refused WAL mode (got ${String(mode)})`);
      db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
      migrate(db, path);
      // SQLite's advice for long-lived connections: refresh planner statistics at open (bounded work). Best effort:
      // it writes, and another process may hold the lock right now.
      try {
        db.pragma('optimize = 0x10002');
      } catch {
        // the statistics are refreshed again at close and by optimize()
      }
    } catch (e) {
      db?.close();
      if (e instanceof JobStoreError) throw e;
      if (isLockError(e)) throw new JobStoreError('busy', `cannot open the job database ${path}: another process holds its lock; try again shortly`, { cause: e });
      throw new JobStoreError('storage', `cannot open the job database ${path}: ${(e as Error).message}; check the path and its permissions`, { cause: e });
    }
    const now = options.now ?? Date.now;
    return new JobStore(db, () => Math.floor(now()), options.coalesce ?? options.durability !== 'full');
  }

  /** Whether writes are committed per turn now (the `coalesce` option; false for good after a failed commit). */
  get coalescing(): boolean {
    return this.turns.coalescing;
  }

  /**
   * Calls `fn` when writes whose callers were told they succeeded were undone (a failed commit), once per failure,
   * from a microtask. A process that acted on those writes must forget what it believes and read the store again.
   * Without a listener the failure is thrown (an uncaught exception). Returns the function that stops it.
   */
  onCommitFailure(fn: (failure: CommitFailure) => void): () => void {
    return this.turns.onFailure(fn);
  }

  /**
   * Resolves once every write made so far is committed: before acting on a write (telling a device, answering a
   * client), as the daemon's "save before acting". At once when nothing waits. Rejects with JobStoreError('storage')
   * when the commit failed: those writes were undone.
   */
  committed(): Promise<void> {
    return this.turns.committed();
  }

  /**
   * Commits this turn's writes now (nothing when none waits). Throws JobStoreError('storage') when the commit fails:
   * the turn's writes were undone (and onCommitFailure listeners are told too).
   */
  flush(): void {
    if (this.closed) throw new JobStoreError('storage', 'the job store is closed');
    this.turns.flush();
  }

  private stmt(sql: string): Database.Statement {
    if (this.closed) throw new JobStoreError('storage', 'the job store is closed');
    let s = this.statements.get(sql);
    if (!s) {
      // Query shapes repeat (values are parameters), so a small cache saves most prepare() calls.
      if (this.statements.size >= 256) this.statements.clear();
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /**
   * Calls `fn` with the record after each create (the parent only, not its children) and each update, once written:
   * before it commits (at the end of the turn, or of a batch()). For live views (the dashboard's events). A throwing
   * `fn` is ignored.
   * Returns the function that stops it.
   */
  watch(fn: (job: JobRecord) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  private changed(job: JobRecord): JobRecord {
    for (const w of this.watchers) {
      try {
        w(job);
      } catch {
        // a watcher's bug must not fail a write that has happened
      }
    }
    return job;
  }

  /** Runs `fn` as one write (nested calls join it; a throw undoes all of it). For runners updating many children at once. */
  batch<T>(fn: () => T): T {
    return this.write('run a batch', fn);
  }

  /**
   * Runs the reads of `fn` on one snapshot of the database (a deferred read transaction): a writer in another
   * connection or process (e.g. `fota` tools on the same file) cannot land between them. In this process every
   * call is synchronous, so nothing of ours can either. What `fn` throws comes out as it was (e.g. a QueryError).
   */
  snapshot<T>(fn: () => T): T {
    try {
      // with this turn's writes open, a SAVEPOINT in their transaction: it sees them, and nobody else can write
      return this.turns.nest(() => this.db.transaction(fn).deferred());
    } catch (e) {
      throw e instanceof Database.SqliteError ? storeError('read a snapshot', e, '') : e;
    }
  }

  private read<T>(what: string, fn: () => T): T {
    try {
      if (this.closed) throw new JobStoreError('storage', 'the job store is closed');
      return this.turns.nest(fn);
    } catch (e) {
      throw storeError(what, e, '');
    }
  }

  // BEGIN IMMEDIATE (the turn's, or this write's own): take the write lock up front, so a read-then-write never fails
  // half way with SQLITE_BUSY.
  private write<T>(what: string, fn: () => T): T {
    if (this.closed) throw new JobStoreError('storage', 'the job store is closed');
    return this.turns.write(what, fn);
  }

  /**
   * Takes the write lock and lets it go again, changing nothing: throws JobStoreError('busy') while another
   * process holds it. Lets a caller find out cheaply whether writes would succeed now. This turn's own writes hold
   * the lock too: they are committed first (a failed commit throws JobStoreError('storage')), so the probe asks
   * about other processes.
   */
  probeWrite(): void {
    this.flush();
    this.turns.own('take the write lock', () => undefined);
  }

  /**
   * Creates a parent job and one Queued child per device, atomically. Returns the parent.
   * Throws JobStoreError 'invalid-job' (bad id, parameters, duplicate device) or 'duplicate-job'.
   */
  createJob(parent: NewJob, children: readonly NewChildJob[]): JobRecord {
    checkParentJobId(parent.JobId);
    if (!(JOB_TYPES as readonly unknown[]).includes(parent.Type)) throw new JobStoreError('invalid-job', `Type must be one of ${JOB_TYPES.join(', ')}`);
    const params = JSON.stringify(checkParameters(parent.Type, parent.Parameters));
    const message = parent.StatusMessage ?? '';
    if (typeof message !== 'string' || message.length > MAX_TEXT_LENGTH) throw new JobStoreError('invalid-job', `StatusMessage must be a string of at most ${MAX_TEXT_LENGTH} characters`);
    if (children.length === 0 || children.length > MAX_CHILDREN) throw new JobStoreError('invalid-job', `a job needs 1..${MAX_CHILDREN} devices (got ${children.length})`);
    const seen = new Set<string>();
    const rows = children.map((c) => {
      checkDeviceId(c.DeviceId);
      if (seen.has(c.DeviceId)) throw new JobStoreError('invalid-job', `device ${c.DeviceId} is listed twice`);
      seen.add(c.DeviceId);
      return [childJobId(parent.JobId, c.DeviceId), c.DeviceId, c.Parameters ? JSON.stringify(checkParameters(parent.Type, c.Parameters)) : params] as const;
    });
    const t = this.now();
    const insert = this.stmt(`INSERT INTO jobs (job_id, parent_job_id, device_id, type, status, status_message, created_time, parameters_json) VALUES (?, ?, ?, ?, 'Queued', ?, ?, ?)`);
    this.write(`create job ${parent.JobId}`, () => {
      if (this.stmt('SELECT 1 FROM jobs WHERE job_id = ?').get(parent.JobId) !== undefined) {
        throw new JobStoreError('duplicate-job', `job ${parent.JobId} already exists; choose another id`);
      }
      insert.run(parent.JobId, '', '', parent.Type, message, t, params);
      for (const [id, device, p] of rows) insert.run(id, parent.JobId, device, parent.Type, '', t, p);
    });
    return this.changed(this.mustGet(parent.JobId));
  }

  /** The job with this id, or undefined. */
  get(jobId: string): JobRecord | undefined {
    const row = this.read(`read job ${jobId}`, () => this.stmt('SELECT * FROM jobs WHERE job_id = ?').get(jobId) as Row | undefined);
    return row && toRecord(row);
  }

  private mustGet(jobId: string): JobRecord {
    const job = this.get(jobId);
    if (!job) throw new JobStoreError('not-found', `job ${jobId} does not exist`);
    return job;
  }

  /** The children of a parent job in creation order ([] when there is no such parent). */
  children(parentId: string): JobRecord[] {
    if (parentId === '') return [];
    return this.read(`read the children of ${parentId}`, () => this.stmt('SELECT * FROM jobs WHERE parent_job_id = ? ORDER BY seq').all(parentId) as Row[]).map(toRecord);
  }

  /** How many children of a parent are in each status. */
  summary(parentId: string): Record<JobStatus, number> {
    const out = zeroCounts();
    const rows = this.read(`count the children of ${parentId}`, () => this.stmt('SELECT status, count(*) AS n FROM jobs WHERE parent_job_id = ? GROUP BY status').all(parentId) as { status: JobStatus; n: number }[]);
    for (const r of rows) out[r.status] = r.n;
    return out;
  }

  /** At most `limit` children of a parent in `status`, in creation order (the rollout takes the next queued ones). */
  childrenWithStatus(parentId: string, status: JobStatus, limit: number): JobRecord[] {
    if (limit <= 0) return [];
    return this.read(`read the ${status} children of ${parentId}`, () => this.stmt('SELECT * FROM jobs WHERE parent_job_id = ? AND status = ? ORDER BY seq LIMIT ?').all(parentId, status, limit) as Row[]).map(toRecord);
  }

  /**
   * A parent's children in aggregate, without reading them: counts per status, the progress summed over children
   * (a terminal child counts 100), and the first `failedLimit` failed device ids. O(children) in SQLite, not in JS.
   */
  rollup(parentId: string, failedLimit = 20): { counts: Record<JobStatus, number>; progressSum: number; failedDevices: string[] } {
    return this.read(`summarise the children of ${parentId}`, () => {
      const counts = this.summary(parentId);
      const { p } = this.stmt(`SELECT coalesce(sum(CASE WHEN status IN ('Completed', 'Failed', 'Cancelled') THEN 100 ELSE progress END), 0) AS p FROM jobs WHERE parent_job_id = ?`).get(parentId) as { p: number };
      const failed = this.stmt(`SELECT device_id FROM jobs WHERE parent_job_id = ? AND status = 'Failed' ORDER BY seq LIMIT ?`).all(parentId, failedLimit) as { device_id: string }[];
      return { counts, progressSum: p, failedDevices: failed.map((f) => f.device_id) };
    });
  }

  /**
   * Changes the fields in `patch` and returns the job. The first move to Running sets StartTime; a terminal
   * status (Completed, Failed, Cancelled) sets EndTime and is final; Completed sets Progress 100 unless given.
   * Throws JobStoreError 'not-found', or 'invalid-update' (unknown field, bad value, status change after the end).
   */
  update(jobId: string, patch: JobPatch): JobRecord {
    const p = checkPatch(patch);
    const job = this.write(`update job ${jobId}`, () => {
      const row = this.stmt('SELECT status, start_time FROM jobs WHERE job_id = ?').get(jobId) as Pick<Row, 'status' | 'start_time'> | undefined;
      if (!row) throw new JobStoreError('not-found', `job ${jobId} does not exist`);
      const from = row.status as JobStatus;
      const to = p.Status;
      if (to !== undefined && to !== from && isTerminal(from)) {
        throw new JobStoreError('invalid-update', `job ${jobId} already ended as ${from}; it cannot become ${to}`);
      }
      const sets: string[] = [];
      const params: unknown[] = [];
      for (const [k, col] of Object.entries(PATCH_COLUMNS) as [keyof JobPatch, string][]) {
        const v = p[k];
        if (v === undefined) continue;
        sets.push(`${col} = ?`);
        params.push(typeof v === 'boolean' ? (v ? 1 : 0) : k === 'Values' && v !== null ? JSON.stringify(v) : v);
      }
      if (to !== undefined && to !== from) {
        const t = this.now();
        if (to === 'Running' && row.start_time === null) (sets.push('start_time = ?'), params.push(t));
        if (isTerminal(to)) (sets.push('end_time = ?'), params.push(t));
        if (to === 'Completed' && p.Progress === undefined) sets.push('progress = 100');
      }
      if (sets.length > 0) this.stmt(`UPDATE jobs SET ${sets.join(', ')} WHERE job_id = ?`).run(...params, jobId);
      return this.mustGet(jobId);
    });
    return this.changed(job);
  }

  /**
   * Appends a step to the job's log, stamped with now(). Keeps the newest MAX_LOG_ENTRIES.
   * Throws JobStoreError 'not-found', or 'invalid-update' for an empty or long step.
   */
  appendLog(jobId: string, entry: { step: string; detail?: string }): void {
    if (typeof entry.step !== 'string' || entry.step.length === 0 || entry.step.length > 64) throw new JobStoreError('invalid-update', 'a log step must be 1..64 characters');
    if (entry.detail !== undefined && (typeof entry.detail !== 'string' || entry.detail.length > MAX_TEXT_LENGTH)) throw new JobStoreError('invalid-update', `a log detail must be at most ${MAX_TEXT_LENGTH} characters`);
    const json = JSON.stringify(entry.detail === undefined ? { t: this.now(), step: entry.step } : { t: this.now(), step: entry.step, detail: entry.detail });
    // One UPDATE: the append is atomic without reading the row first.
    const sql = `UPDATE jobs SET log_json = json_insert(CASE WHEN json_array_length(log_json) >= ${MAX_LOG_ENTRIES} THEN json_remove(log_json, '$[0]') ELSE log_json END, '$[#]', json(?)) WHERE job_id = ?`;
    const res = this.write(`append to the log of job ${jobId}`, () => this.stmt(sql).run(json, jobId));
    if (res.changes === 0) throw new JobStoreError('not-found', `job ${jobId} does not exist`);
  }

  /** Every job not yet terminal (Queued or Running), parents first, then in creation order. For a hub restart. */
  listUnfinished(): JobRecord[] {
    return this.read('list unfinished jobs', () => this.stmt(`SELECT * FROM jobs WHERE status IN ('Queued', 'Running') ORDER BY parent_job_id <> '', seq`).all() as Row[]).map(toRecord);
  }

  /** One page of the jobs matching a query from parseJobQuery, and the total count, from one snapshot. */
  query(q: JobQuery): JobPage {
    const sql = toSql(q);
    const where = sql.seek ? `(${sql.where}) AND ${sql.seek.sql}` : sql.where;
    const pageSql = `SELECT * FROM jobs WHERE ${where} ORDER BY ${sql.orderBy} LIMIT ?`;
    const countSql = `SELECT count(*) AS n FROM jobs WHERE ${sql.where}`;
    return this.read('query jobs', () => this.db.transaction(() => {
      const rows = this.stmt(pageSql).all(...sql.params, ...(sql.seek?.params ?? []), sql.limit) as Row[];
      const { n } = this.stmt(countSql).get(...sql.params) as { n: number };
      const more = rows.length > q.page.size;
      const page = more ? rows.slice(0, q.page.size) : rows;
      const last = page[page.length - 1];
      const out: JobPage = { jobs: page.map(toRecord), total: n };
      if (more && last) out.nextPage = encodeCursor(q, last as unknown as Record<string, unknown>);
      return out;
    })());
  }

  /** Refreshes the query planner's statistics (a sampled ANALYZE, milliseconds). Call after bulk loads, and e.g. hourly. */
  optimize(): void {
    // ANALYZE writes: in a transaction of its own, after this turn's writes are committed
    this.flush();
    // analysis_limit samples each index instead of reading it all: cheap at any size, good enough for the planner.
    this.read('optimize the job database', () => this.db.exec('PRAGMA analysis_limit = 1000; ANALYZE;'));
  }

  /**
   * Closes the database (idempotent). Commits this turn's writes first, and lets SQLite refresh its planner
   * statistics. Throws JobStoreError('storage') when that commit fails (the store is closed all the same).
   */
  close(): void {
    if (this.closed) return;
    let failed: unknown;
    try {
      this.turns.flush();
    } catch (e) {
      failed = e;
    }
    this.closed = true;
    this.statements.clear();
    try {
      if (failed === undefined) this.db.pragma('optimize');
    } finally {
      this.db.close();
    }
    if (failed !== undefined) throw failed;
  }
}
