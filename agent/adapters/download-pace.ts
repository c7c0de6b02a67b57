// The pace rules of one package download, kept apart from the HTTP mechanics (http-source.ts) so they hold whatever
// client carries the bytes: what counts as progress for the retry budget, the low-speed window, the minimum average
// rate and the overall deadline. Pure: times come in as ms of a monotonic clock; no timers, no IO.

import { FotaError } from '../core/errors.js';

export interface PaceLimits {
  /** ms of waiting for body bytes that make one low-speed window; also the warm-up before the average is judged */
  stallTimeoutMs: number;
  /** low-speed limit of one window, bytes/s; 0: off (a window then only needs one byte) */
  minBytesPerSec: number;
  /** the whole download's average, over the time spent waiting for body bytes, bytes/s; 0: off */
  minAverageBytesPerSec: number;
  /** ms for the whole download, retries and backoff included; 0: no deadline */
  deadlineMs: number;
}

/**
 * An attempt that delivered fewer bytes than this (and did not reach the end) made no progress: it counts against the
 * retry budget. Any byte used to count, so a server that honours Range and dribbles a byte per connection reset the
 * budget at every attempt and kept the device downloading forever (issue 9 #7). 64 KiB is far below what any real
 * connection delivers before a glitch, and above what a hostile one bothers to send.
 */
export const PROGRESS_BYTES = 64 * 1024;

/**
 * INVARIANTS: `window*` cover the current low-speed window of the current attempt; `waited`/`got` the whole download
 * (every attempt); time the consumer spends with a chunk is never counted (a slow slot is not a slow server).
 */
export class Pace {
  private windowWaited = 0;
  private windowGot = 0;
  private waited = 0;
  private got = 0;
  /** body bytes of the current attempt */
  attemptBytes = 0;

  constructor(
    readonly limits: PaceLimits,
    private readonly startedAt: number,
  ) {}

  /** A new response body begins: a fresh window. */
  attempt(): void {
    this.windowWaited = 0;
    this.windowGot = 0;
    this.attemptBytes = 0;
  }

  /** bytes one window must bring: minBytesPerSec over stallTimeoutMs, at least one */
  private get windowNeed(): number {
    return Math.max(1, Math.ceil((this.limits.minBytesPerSec * this.limits.stallTimeoutMs) / 1000));
  }

  /** How long the next wait for body bytes may last before the window is judged (stallVerdict). */
  nextWaitMs(): number {
    return Math.max(0, this.limits.stallTimeoutMs - this.windowWaited);
  }

  /** `bytes` arrived after `waitedMs` of waiting. Throws FotaError('too-slow') when the average fell below its minimum. */
  received(bytes: number, waitedMs: number): void {
    this.windowWaited += waitedMs;
    this.windowGot += bytes;
    this.waited += waitedMs;
    this.got += bytes;
    this.attemptBytes += bytes;
    if (this.windowGot >= this.windowNeed) [this.windowWaited, this.windowGot] = [0, 0];
    this.checkAverage();
  }

  /**
   * The wait timer fired after nextWaitMs(): the window failed. Returns the reason of the stall (the attempt is
   * retried), or throws FotaError('too-slow') when the whole download's average is now below its minimum.
   */
  stallVerdict(where: string, position: number): string {
    const ms = this.limits.stallTimeoutMs;
    this.waited += this.nextWaitMs();
    this.checkAverage();
    const why =
      this.windowGot === 0 ? `no data from ${where} for ${ms} ms` : `only ${this.windowGot} bytes from ${where} in ${ms} ms, below the minimum of ${this.limits.minBytesPerSec} bytes/s`;
    return `${why} at byte ${position}`;
  }

  /** The attempt delivered enough to reset the retry budget. */
  get progressed(): boolean {
    return this.attemptBytes >= PROGRESS_BYTES;
  }

  /** ms left before the deadline (Infinity without one). */
  remainingMs(now: number): number {
    return this.limits.deadlineMs > 0 ? this.startedAt + this.limits.deadlineMs - now : Infinity;
  }

  /** The error for a download that ran out of time. */
  deadlineError(position: number, total: number | undefined): FotaError {
    const s = Number((this.limits.deadlineMs / 1000).toFixed(1));
    return new FotaError('too-slow', `the download did not finish within its deadline of ${s} s (download.deadlineSec): ${position} of ${total ?? 'an unknown number of'} bytes arrived; the package server or the link is too slow`);
  }

  private checkAverage(): void {
    const min = this.limits.minAverageBytesPerSec;
    if (min <= 0 || this.waited < this.limits.stallTimeoutMs) return;
    const rate = (this.got * 1000) / this.waited;
    if (rate >= min) return;
    const shown = rate < 10 ? rate.toFixed(2) : String(Math.round(rate));
    throw new FotaError(
      'too-slow',
      `the download averaged ${shown} bytes/s over ${Math.round(this.waited / 1000)} s of waiting for data (${this.got} bytes), below the minimum of ${min} bytes/s (download.minAverageBytesPerSec); the package server or the link is too slow`,
    );
  }
}
