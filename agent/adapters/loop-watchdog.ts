// The systemd watchdog, fed from the event loop: a timer pings every interval, and a tick that ran late (the loop
// was blocked or starved) sends no ping. A loop that stays stuck stops pinging, and systemd restarts the agent
// after WatchdogSec= (systemd.service(5)); a process that is merely busy keeps its pings.
//
// INVARIANTS
// - at most one ping is in flight: a slow service manager never piles up systemd-notify processes;
// - a ping is sent only from a tick that ran at most maxLagMs after it was due;
// - after stop() no tick runs and no new ping starts.

export interface LoopWatchdogOptions {
  /** how often to ping (systemd recommends half the watchdog interval or less: we use a quarter) */
  intervalMs: number;
  /** a tick later than this is a sick loop: its ping is skipped */
  maxLagMs: number;
  /** sends WATCHDOG=1 */
  ping(): Promise<unknown>;
  /** called for each skipped ping with how late the tick was */
  lagging?(lagMs: number): void;
  /** monotonic milliseconds (default performance.now) */
  now?(): number;
}

export class LoopWatchdog {
  private timer: NodeJS.Timeout | undefined;
  private due = 0;
  private inFlight = false;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly o: LoopWatchdogOptions) {
    this.now = o.now ?? (() => performance.now());
  }

  /** Pings at once (the loop is fresh), then every intervalMs. */
  start(): void {
    this.stopped = false;
    this.due = this.now();
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private tick(): void {
    if (this.stopped) return;
    const t = this.now();
    const lag = t - this.due;
    this.due = t + this.o.intervalMs;
    this.timer = setTimeout(() => this.tick(), this.o.intervalMs);
    // the timer alone must not keep a stopping agent alive
    this.timer.unref();
    if (lag > this.o.maxLagMs) return this.o.lagging?.(Math.round(lag));
    if (this.inFlight) return;
    this.inFlight = true;
    void this.o.ping().finally(() => (this.inFlight = false));
  }
}

/** The ping interval and lag limit for a WatchdogSec= of `watchdogMs`: pings every quarter, tolerates a quarter. */
export function watchdogTiming(watchdogMs: number): { intervalMs: number; maxLagMs: number } {
  return { intervalMs: watchdogMs / 4, maxLagMs: watchdogMs / 4 };
}
