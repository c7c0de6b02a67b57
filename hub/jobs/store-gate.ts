// Waits out a locked job database. When a write fails because another process holds SQLite's lock (a backup, an
// operator's sqlite3 shell), the gate closes: one probe per back-off period tries the lock (SQLite waits
// synchronously, so N drivers must not each try), and every waiter goes on once a probe got it.
//
// INVARIANTS
// - At most one probe timer is armed; the back-off doubles (with full jitter) while the lock stays taken, up to
//   `maxMs`, and starts over once the database is writable again.
// - Every waiter is released exactly once: when a probe succeeds, or when its own signal aborts (rejects).
// - `closed` is true from the first lock error until a probe succeeds: callers fail fast instead of blocking.

import { JobStoreError } from './job-model.js';

export function isBusy(e: unknown): boolean {
  return e instanceof JobStoreError && e.code === 'busy';
}

export interface StoreGateOptions {
  /** takes the write lock and lets it go (JobStore.probeWrite): throws JobStoreError('busy') while locked */
  probe(): void;
  log(msg: string, fields?: Record<string, unknown>): void;
  /** the monotonic clock, ms (default performance.now) */
  now?: () => number;
  initialMs?: number;
  maxMs?: number;
  random?: () => number;
}

export class StoreGate {
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private since: number | undefined;
  private readonly waiters = new Set<() => void>();
  private readonly now: () => number;

  constructor(private readonly opts: StoreGateOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** True while the database is known to be locked (since the first lock error, until a probe succeeds). */
  get closed(): boolean {
    return this.since !== undefined;
  }

  /** Milliseconds the database has been locked (0 when it is not). */
  lockedForMs(): number {
    return this.since === undefined ? 0 : this.now() - this.since;
  }

  /** A JobStoreError('busy') for callers that must not touch the database while the gate is closed. */
  busyError(what: string): JobStoreError {
    return new JobStoreError('busy', `could not ${what}: another process holds the job database's lock; try again shortly`);
  }

  /** Runs `fn` (a store call) now, or once the database is writable again; rejects with `signal`'s reason. */
  async run<T>(fn: () => T, signal?: AbortSignal): Promise<T> {
    for (;;) {
      if (this.closed) await this.wait(signal);
      try {
        return fn();
      } catch (e) {
        if (!isBusy(e)) throw e;
        this.trip();
      }
    }
  }

  /** Records a lock error seen by a caller: closes the gate (once) and arms the probe. */
  trip(): void {
    if (this.since !== undefined) return;
    this.since = this.now();
    this.attempt = 0;
    this.opts.log('job database locked by another process: writes wait and are retried', {});
    this.arm();
  }

  /** Resolves once the database is writable again (at once when the gate is open); rejects when `signal` aborts. */
  wait(signal?: AbortSignal): Promise<void> {
    if (!this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.waiters.delete(done);
        reject(signal?.reason);
      };
      this.waiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Stops probing (the hub stops); waiters stay until their own signals abort. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    const initial = this.opts.initialMs ?? 250;
    const ceiling = Math.min(this.opts.maxMs ?? 5000, initial * 2 ** Math.min(this.attempt, 20));
    // full jitter (as the agent's reconnects): never less than the initial delay, so a probe is never a busy loop
    const delay = Math.max(initial, Math.round((this.opts.random ?? Math.random)() * ceiling));
    this.attempt++;
    this.timer = setTimeout(() => this.probe(), delay);
  }

  private probe(): void {
    this.timer = undefined;
    try {
      this.opts.probe();
    } catch (e) {
      if (isBusy(e)) return this.arm();
      // another failure (disk, permissions) is not a lock: let the callers meet it and report it
      this.opts.log('job database probe failed', { error: (e as Error).message });
    }
    this.opts.log('job database writable again', { lockedSeconds: Math.round(this.lockedForMs() / 100) / 10 });
    this.since = undefined;
    const ready = [...this.waiters];
    this.waiters.clear();
    for (const w of ready) w();
  }
}
