// Failed dashboard logins per client address: after MAX_FAILURES within a window the address waits the window out.
// Bounded (the oldest addresses are forgotten first). The token is long and random; this keeps the hub from being a
// fast guessing oracle and keeps the log readable. Pure: the clock is passed in.

const MAX_FAILURES = 10;
const WINDOW_MS = 60_000;
const MAX_ADDRESSES = 1024;

export class LoginLimit {
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** ms the address must still wait before it may try again (0: it may try now). */
  waitMs(address: string): number {
    const f = this.failures.get(address);
    if (!f) return 0;
    const left = f.since + WINDOW_MS - this.now();
    if (left <= 0) {
      this.failures.delete(address);
      return 0;
    }
    return f.count >= MAX_FAILURES ? left : 0;
  }

  failed(address: string): void {
    const f = this.failures.get(address);
    if (f && f.since + WINDOW_MS > this.now()) f.count++;
    else {
      this.failures.delete(address);
      while (this.failures.size >= MAX_ADDRESSES) this.failures.delete(this.failures.keys().next().value as string);
      this.failures.set(address, { count: 1, since: this.now() });
    }
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }
}
