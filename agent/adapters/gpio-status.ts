// The status LED's blink patterns and the reset button's hold timer, over any GpioLine. show() swaps the pattern and
// returns at once; a write still in flight when the next step comes is not waited for (the step is skipped), and a
// failing LED is reported once and then left alone: the LED never holds up the daemon.
//
// INVARIANTS
// - One timer drives the LED; show() only replaces the pattern it reads at its next step.
// - The button fires once per press, after the line stayed pressed for holdMs; a release counts only once it lasted
//   RELEASE_DEBOUNCE_MS (bounce and glitches do not restart the hold). A button already pressed when watching starts
//   must be released first: a stuck button must not factory-reset every boot.

import type { DeviceStatus } from '../core/device-status.js';
import type { GpioLine } from './gpio-port.js';

/** on/off durations in ms, repeated. Slow heartbeat, slow blink, fast blink, double blink. */
export const PATTERNS: Readonly<Record<DeviceStatus, readonly number[]>> = {
  idle: [100, 2900],
  downloading: [500, 500],
  updating: [150, 150],
  error: [100, 150, 100, 1650],
};

export interface Timers {
  setTimeout(fn: () => void, ms: number): { unref?(): unknown } | number;
  clearTimeout(t: unknown): void;
}

const realTimers: Timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout) };

export class StatusLed {
  private pattern: readonly number[] = PATTERNS.idle;
  private status: DeviceStatus | undefined;
  private step = 0;
  private timer: unknown;
  private busy = false;
  private failed = false;
  private stopped = false;

  constructor(
    private readonly line: GpioLine,
    private readonly onError: (e: unknown) => void,
    private readonly timers: Timers = realTimers,
  ) {}

  show(status: DeviceStatus): void {
    if (status === this.status || this.stopped) return;
    this.status = status;
    this.pattern = PATTERNS[status];
    this.step = 0;
    this.timers.clearTimeout(this.timer);
    this.tick();
  }

  private tick(): void {
    if (this.stopped || this.failed) return;
    const on = this.step % 2 === 0;
    const ms = this.pattern[this.step % this.pattern.length]!;
    this.step = (this.step + 1) % this.pattern.length;
    if (!this.busy) {
      this.busy = true;
      this.line.set(on).then(
        () => (this.busy = false),
        (e: unknown) => {
          this.busy = false;
          if (!this.failed) (this.failed = true), this.onError(e);
        },
      );
    }
    const t = this.timers.setTimeout(() => this.tick(), ms);
    if (typeof t === 'object') t.unref?.();
    this.timer = t;
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.timers.clearTimeout(this.timer);
    await this.line.close();
  }
}

/** a release shorter than this during a hold is contact bounce or noise, not the finger leaving the button */
export const RELEASE_DEBOUNCE_MS = 50;

export class ResetButton {
  private holdTimer: unknown;
  private releaseTimer: unknown;
  /** the debounced state: pressed since the hold timer started */
  private holding = false;
  private seen = false;
  private stuck = false;
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly line: GpioLine,
    private readonly holdMs: number,
    private readonly onHeld: () => void,
    private readonly timers: Timers = realTimers,
    private readonly onError: (e: unknown) => void = () => undefined,
  ) {}

  start(): void {
    this.unwatch = this.line.watch((on) => this.change(on), this.onError);
  }

  private change(on: boolean): void {
    if (!this.seen) {
      // the first reading: a button already down is stuck (or held through a reboot) until it is let go
      this.seen = true;
      this.stuck = on;
      return;
    }
    if (this.stuck) {
      if (!on) this.stuck = false;
      return;
    }
    if (on) {
      // pressed again within the debounce time of a release: the same press goes on, its hold timer kept
      this.timers.clearTimeout(this.releaseTimer);
      this.releaseTimer = undefined;
      if (this.holding) return;
      this.holding = true;
      this.holdTimer = this.arm(() => this.held(), this.holdMs);
      return;
    }
    if (!this.holding || this.releaseTimer !== undefined) return;
    this.releaseTimer = this.arm(() => {
      this.releaseTimer = undefined;
      this.holding = false;
      this.timers.clearTimeout(this.holdTimer);
    }, RELEASE_DEBOUNCE_MS);
  }

  private held(): void {
    // the time is up during a possible bounce: decide once the release is confirmed or taken back
    if (this.releaseTimer !== undefined) this.holdTimer = this.arm(() => this.held(), RELEASE_DEBOUNCE_MS);
    else if (this.holding) (this.holdTimer = undefined), this.onHeld();
  }

  private arm(fn: () => void, ms: number): unknown {
    const t = this.timers.setTimeout(fn, ms);
    if (typeof t === 'object') t.unref?.();
    return t;
  }

  async close(): Promise<void> {
    this.timers.clearTimeout(this.holdTimer);
    this.timers.clearTimeout(this.releaseTimer);
    this.unwatch?.();
    await this.line.close();
  }
}
