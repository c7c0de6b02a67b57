// Admission of hub requests: a bounded number in progress and a rate per request kind (token buckets), so a flood
// can neither grow the agent's memory nor delay the requests that matter (issue 9 #6). Pure: time is passed in.
//
// INVARIANTS
// - At most `maxPending` admitted requests are unfinished at any time; beyond that a request is refused at once.
// - A kind never gets more than `burst` requests at once, nor more than `perSec` on average.
// - Refusals are answered at most REFUSAL_ANSWERS_PER_SEC on average (answers to a flood would be a flood).

import type { Request } from '../../protocol/messages.js';
import { ObjectId } from '../../protocol/lwm2m.js';

/** Request kinds with their own budget: reads (read, observe, cancel-observe) and writes/executes per object. */
export type RequestKind = 'read' | 'device' | 'firmware' | 'config' | 'other';

export interface Rate {
  perSec: number;
  burst: number;
}

/** The defaults (docs/protocol.md, "Limits"): far above what a hub's jobs need, far below what hurts a device. */
export const DEFAULT_RATES: Record<RequestKind, Rate> = {
  read: { perSec: 50, burst: 100 },
  // Package URI / Update / Cancel: a job needs a handful per update
  firmware: { perSec: 2, burst: 10 },
  // time zone, offset, Reboot, Factory Reset
  device: { perSec: 2, burst: 10 },
  // each accepted change is saved and restarts the agent
  config: { perSec: 1, burst: 5 },
  other: { perSec: 10, burst: 20 },
};
export const DEFAULT_MAX_PENDING = 32;
const REFUSAL_ANSWERS: Rate = { perSec: 20, burst: 50 };

export function kindOf(req: Request): RequestKind {
  if (req.op === 'read' || req.op === 'observe' || req.op === 'cancel-observe') return 'read';
  const object = Number(req.path.split('/')[1]);
  if (object === ObjectId.Device) return 'device';
  if (object === ObjectId.FirmwareUpdate) return 'firmware';
  if (object === ObjectId.AgentConfig) return 'config';
  return 'other';
}

class Bucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: Rate,
    now: number,
  ) {
    this.tokens = rate.burst;
    this.last = now;
  }

  take(now: number): boolean {
    // a clock that steps back refills nothing (and never takes tokens away)
    this.tokens = Math.min(this.rate.burst, this.tokens + (Math.max(0, now - this.last) / 1000) * this.rate.perSec);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export type Admission = { ok: true; done(): void } | { ok: false; reason: string };

export class RequestAdmission {
  private pending = 0;
  private readonly buckets: Record<RequestKind, Bucket>;
  private readonly refusals: Bucket;

  constructor(
    now: number,
    private readonly maxPending = DEFAULT_MAX_PENDING,
    private readonly rates: Record<RequestKind, Rate> = DEFAULT_RATES,
  ) {
    const b = (k: RequestKind) => new Bucket(rates[k], now);
    this.buckets = { read: b('read'), device: b('device'), firmware: b('firmware'), config: b('config'), other: b('other') };
    this.refusals = new Bucket(REFUSAL_ANSWERS, now);
  }

  /** Admits `req` (call `done()` once it is answered) or says why not (the answer is 5.03). */
  admit(req: Request, now: number): Admission {
    if (this.pending >= this.maxPending) return { ok: false, reason: `the agent is busy (${this.pending} requests in progress); retry later` };
    const kind = kindOf(req);
    if (!this.buckets[kind].take(now)) {
      const r = this.rates[kind];
      return { ok: false, reason: `too many ${kind} requests (at most ${r.perSec}/s, bursts of ${r.burst}); retry later` };
    }
    this.pending++;
    let finished = false;
    return {
      ok: true,
      done: () => {
        if (!finished) this.pending--;
        finished = true;
      },
    };
  }

  /** Whether a refusal may be answered now (else it is only counted in the log). */
  answerRefusal(now: number): boolean {
    return this.refusals.take(now);
  }
}
