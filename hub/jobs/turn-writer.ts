// The job store's write transactions: the writes made in one turn of the event loop share one SQLite transaction
// (BEGIN IMMEDIATE at the first, SAVEPOINTs for the rest, one COMMIT in the check phase). Synchronous (better-sqlite3).
// Why: a burst of a few hundred writes in one turn cost a few hundred commits, and every API query waited behind them.
//
// INVARIANTS
// - At most one turn is open. While one is, this connection holds SQLite's write lock and one commit is scheduled
//   (setImmediate, the check phase that ends the poll phase in which the turn began).
// - A turn never outlives its event-loop iteration: a store call made in a later iteration (libuv's loop count)
//   commits it first. That covers a turn begun in the check phase itself (inside another setImmediate callback), whose
//   own commit would otherwise wait for the next check phase. So the write lock is never held while the event loop
//   waits for I/O, and code run by a later iteration's I/O callbacks never meets an earlier iteration's open turn.
// - A write that throws undoes only itself (its SAVEPOINT); the turn's other writes stay.
// - When a turn's writes are undone after their callers were told they succeeded (its commit failed, or SQLite rolled
//   the whole transaction back on an I/O error), the store says so once, to every onFailure listener, and stops
//   coalescing for good: from then on every write commits before it returns, so a later failure reaches its caller.

import { performance } from 'node:perf_hooks';
import type Database from 'better-sqlite3';
import { JobStoreError } from './job-model.js';

/** SQLite's "another connection holds the lock" (SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED…). */
export function isLockError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

export function storeError(what: string, e: unknown, suffix: string): JobStoreError {
  if (e instanceof JobStoreError) return e;
  if (isLockError(e)) return new JobStoreError('busy', `could not ${what}: another process holds the job database's lock${suffix}; try again shortly`, { cause: e });
  return new JobStoreError('storage', `could not ${what}: ${(e as Error).message}${suffix}`, { cause: e });
}

/** Writes whose callers were told they succeeded, undone together (JobStore.onCommitFailure). */
export interface CommitFailure {
  /** JobStoreError('storage') naming SQLite's reason */
  error: JobStoreError;
  /** how many writes were undone */
  count: number;
  /** what they were, in order ("update job fw~dev-1", "append to the log of job fw~dev-2"…), at most the first 100 */
  lost: string[];
}

interface Turn {
  /** libuv's loop count when the turn began */
  loop: number | undefined;
  count: number;
  lost: string[];
  /** committed(): created on the first call only, so a failure never rejects a promise nobody holds */
  done?: { promise: Promise<void>; resolve: () => void; reject: (e: JobStoreError) => void };
}

const MAX_LISTED = 100;
// Captured at load: a test that fakes timers must not hold back the commits of a real database.
const nextCheckPhase = globalThis.setImmediate;

/** The event loop's iteration (libuv uv_metrics_info, Node ≥ 20.18 / 22.8); undefined where Node does not tell. */
function loopCount(): number | undefined {
  return (performance.nodeTiming as { uvMetricsInfo?: { loopCount: number } }).uvMetricsInfo?.loopCount;
}

export class TurnWriter {
  private turn: Turn | undefined;
  /** > 0 inside a store transaction (a write, a snapshot, a query): nested writes are SAVEPOINTs of it */
  private depth = 0;
  private readonly listeners = new Set<(f: CommitFailure) => void>();

  constructor(
    private readonly db: Database.Database,
    private coalesce: boolean,
  ) {}

  /** Whether writes are coalesced per turn now (false when turned off, and for good after a failed commit). */
  get coalescing(): boolean {
    return this.coalesce;
  }

  /** Calls `fn` once per failure, from a microtask (never inside a store call). Returns the function that stops it. */
  onFailure(fn: (f: CommitFailure) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Runs `fn` as one write: in the turn's transaction (coalescing), or in its own (not coalescing, or nested in another
   * store transaction). Throws what `fn` throws, or storeError(what): either way this write changed nothing.
   */
  write<T>(what: string, fn: () => T): T {
    this.settle();
    if (!this.coalesce || this.depth > 0 || (this.turn === undefined && this.db.inTransaction)) return this.own(what, fn);
    const turn = this.turn ?? this.begin(what);
    this.depth++;
    try {
      // inside the turn's transaction better-sqlite3 makes this a SAVEPOINT: a throw undoes this write only
      const out = this.db.transaction(fn).immediate();
      if (turn.lost.length < MAX_LISTED) turn.lost.push(what);
      turn.count++;
      return out;
    } catch (e) {
      // IOERR, FULL, NOMEM: SQLite may have rolled the whole transaction back, and with it the turn's earlier writes
      if (!this.db.inTransaction) this.undone(turn, e, `${what} failed and SQLite rolled the turn's transaction back`);
      throw storeError(what, e, '; nothing was changed');
    } finally {
      this.depth--;
    }
  }

  /** Runs `fn` in a transaction of its own (BEGIN IMMEDIATE … COMMIT, or a SAVEPOINT inside an open one). */
  own<T>(what: string, fn: () => T): T {
    this.depth++;
    try {
      return this.db.transaction(fn).immediate();
    } catch (e) {
      throw storeError(what, e, '; nothing was changed');
    } finally {
      this.depth--;
    }
  }

  /** Runs `fn` (which opens a read transaction of its own) after settling: a store read that must not commit inside. */
  nest<T>(fn: () => T): T {
    this.settle();
    this.depth++;
    try {
      return fn();
    } finally {
      this.depth--;
    }
  }

  /** Commits a turn left open by an earlier iteration of the event loop. Call at the start of every store call. */
  settle(): void {
    const turn = this.turn;
    if (turn === undefined || this.depth > 0) return;
    const now = loopCount();
    if (now !== undefined && now !== turn.loop) this.commit(turn);
  }

  /**
   * Commits the open turn now (nothing when none is open). Throws JobStoreError('storage') when the commit fails: the
   * turn's writes were undone (and every listener is told, as at the end of a turn).
   */
  flush(): void {
    if (this.depth > 0) throw new JobStoreError('storage', 'cannot commit the job database from inside one of its own transactions');
    const turn = this.turn;
    if (turn === undefined) return;
    const error = this.commit(turn);
    if (error) throw error;
  }

  /**
   * Resolves once every write made so far is committed (at once when none waits for its commit); rejects with the
   * JobStoreError('storage') of a failed commit: those writes were undone.
   */
  committed(): Promise<void> {
    const turn = this.turn;
    if (turn === undefined) return Promise.resolve();
    if (!turn.done) {
      let resolve!: () => void;
      let reject!: (e: JobStoreError) => void;
      const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      turn.done = { promise, resolve, reject };
    }
    return turn.done.promise;
  }

  private begin(what: string): Turn {
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch (e) {
      throw storeError(what, e, '; nothing was changed');
    }
    const turn: Turn = { loop: loopCount(), count: 0, lost: [] };
    this.turn = turn;
    nextCheckPhase(() => {
      if (this.turn === turn) this.commit(turn);
    });
    return turn;
  }

  /** COMMIT (once more if another connection's lock was in the way); on failure, ROLLBACK and report. Never throws. */
  private commit(turn: Turn): JobStoreError | undefined {
    this.turn = undefined;
    let error: unknown;
    try {
      this.db.exec('COMMIT');
    } catch (e) {
      error = e;
      // In WAL mode the write lock is ours since BEGIN IMMEDIATE, so COMMIT does not wait for others; in rollback
      // mode it can meet a reader (SQLITE_BUSY, the transaction stays open): one more try, busy_timeout again.
      if (isLockError(e) && this.db.inTransaction) {
        try {
          this.db.exec('COMMIT');
          error = undefined;
        } catch (again) {
          error = again;
        }
      }
    }
    if (error === undefined) {
      turn.done?.resolve();
      return undefined;
    }
    if (this.db.inTransaction) {
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // SQLite had rolled it back already (IOERR, FULL)
      }
    }
    return this.undone(turn, error, 'the commit failed');
  }

  /** The turn's writes are gone: stop coalescing, reject committed(), tell the listeners (or throw, unheard). */
  private undone(turn: Turn, cause: unknown, how: string): JobStoreError {
    if (this.turn === turn) this.turn = undefined;
    this.coalesce = false;
    const reason = (cause as Error)?.message ?? String(cause);
    const error = new JobStoreError(
      'storage',
      `${turn.count} write(s) to the job database were undone after their callers were told they succeeded (${how}: ${reason}); every write now commits before it returns`,
      { cause },
    );
    if (turn.count > 0) {
      const failure: CommitFailure = { error, count: turn.count, lost: turn.lost };
      // first the listeners (the job service stops its drivers), then the promises of committed()
      queueMicrotask(() => {
        if (this.listeners.size === 0) throw error; // as an EventEmitter's unheard 'error': never silent
        for (const l of [...this.listeners]) {
          try {
            l(failure);
          } catch {
            // a listener's bug must not hide the failure from the others
          }
        }
      });
    }
    turn.done?.reject(error);
    return error;
  }
}
