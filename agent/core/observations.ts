// Observe/Notify bookkeeping: which paths the hub observes and what it was last told about each.
// Pure: `changes()` compares fresh reads with what was last sent and returns the notifications to send.

import type { JsonValue } from '../../protocol/messages.js';

export const MAX_OBSERVATIONS = 64;

interface Observation {
  token: string;
  path: string;
  last: string;
}

export class Observations {
  private readonly byToken = new Map<string, Observation>();

  get size(): number {
    return this.byToken.size;
  }

  /** Adds (or replaces) an observation with the value just answered. False when the table is full. */
  add(token: string, path: string, value: JsonValue): boolean {
    if (!this.byToken.has(token) && this.byToken.size >= MAX_OBSERVATIONS) return false;
    this.byToken.set(token, { token, path, last: JSON.stringify(value) });
    return true;
  }

  /** Cancels by token, or every observation of `path` when no token is given. Returns how many went. */
  cancel(path: string, token?: string): number {
    let n = 0;
    for (const o of [...this.byToken.values()]) {
      if (token !== undefined ? o.token === token : o.path === path) {
        this.byToken.delete(o.token);
        n++;
      }
    }
    return n;
  }

  clear(): void {
    this.byToken.clear();
  }

  /** Reads every observed path with `read` and returns those whose value changed since last sent. */
  changes(read: (path: string) => JsonValue | undefined): { token: string; path: string; value: JsonValue }[] {
    const out: { token: string; path: string; value: JsonValue }[] = [];
    for (const o of this.byToken.values()) {
      const value = read(o.path);
      if (value === undefined) continue;
      const text = JSON.stringify(value);
      if (text === o.last) continue;
      o.last = text;
      out.push({ token: o.token, path: o.path, value });
    }
    return out;
  }
}
