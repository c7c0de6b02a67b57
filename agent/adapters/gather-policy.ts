// Whether the download socket may wait for small reads to gather (wide-read-socket.ts, connectWide): only while the
// waits cost no throughput. Pure logic on a clock the caller reads; no I/O.
//
// A wait stops reading for a few milliseconds. On a link that is slower than the device (the usual case: the
// network sets the pace, and the kernel's socket buffer holds what arrives meanwhile), the pieces grow and the bytes
// per second stay the same. Where the socket buffer cannot hold a wait's worth (a fixed SO_RCVBUF, a small
// tcp_rmem, a receive window that autotuning never grew because the round trip is short and the sender itself sets
// the pace), a wait fills it, the sender stops, and every wait costs time. The policy tells the two apart by
// measuring them: it alternates phases of pieces pushed as they come (a probe) and pieces that may wait, and compares
// their throughput (bytes pushed over the phase's time, each phase timed from the push before its first piece).
// - waits as fast as the probe (at least 1/LOSS of its rate) to the end of the phase: keep waiting; the next probe
//   comes after twice as many pieces (WAIT_PIECES_MIN up to WAIT_PIECES_MAX), so a steady link probes ever less;
// - waits slower, judged from the second waited piece on: stop at once, and push pieces as they come for
//   `penalty` times the time the waits took (NO_WAIT_PENALTY, doubling with each loss in a row up to
//   NO_WAIT_PENALTY_MAX; at least NO_WAIT_PIECES), then probe and try again. So the waits of a link that loses
//   every time take at most ~1/NO_WAIT_PENALTY of its time, and ever less.
// INVARIANT: the phase's `bytes`, `pieces` and `since` describe the pieces pushed in it so far.

/** Pieces in a probe (pushed as they come, no waits): enough reads to average a bursty link over. */
export const PROBE_PIECES = 16;
const WAIT_PIECES_MIN = 16;
const WAIT_PIECES_MAX = 1024;
const NO_WAIT_PIECES = 16;
const NO_WAIT_PENALTY = 32;
const NO_WAIT_PENALTY_MAX = 1024;
/** Waits that bring fewer bytes per second than the probe's divided by this are taken to cost throughput. */
export const LOSS = 1.5;

type Phase = 'probe' | 'wait' | 'no-wait';

/** What the socket asks before a small read waits, and tells after each piece it pushes. */
export interface WaitPolicy {
  mayWait(): boolean;
  pushed(bytes: number, now: number): void;
  readonly verdicts: { kept: number; lost: number };
}

export class GatherPolicy implements WaitPolicy {
  private phase: Phase = 'probe';
  private pieces = 0;
  private bytes = 0;
  private since: number | undefined; // the push before the phase's first piece (undefined: none yet)
  private lastPush: number | undefined;
  private probeRate = 0;
  private waitPieces = WAIT_PIECES_MIN;
  private penalty = NO_WAIT_PENALTY;
  private noWaitUntil = 0;
  /** Wait phases judged: kept (as fast as the probe) and lost (slower) (diagnostics, tests). */
  readonly verdicts = { kept: 0, lost: 0 };

  /** Whether a small read may wait for more now. */
  mayWait(): boolean {
    return this.phase === 'wait';
  }

  /** A piece of `bytes` was pushed at `now` (milliseconds, any monotonic origin). */
  pushed(bytes: number, now: number): void {
    const since = (this.since ??= this.lastPush ?? now);
    this.lastPush = now;
    this.bytes += bytes;
    this.pieces++;
    // a phase that took no measurable time (pieces already queued in the kernel) says nothing of the link's rate
    const rate = now > since ? this.bytes / (now - since) : Infinity;
    if (this.phase === 'probe') {
      if (this.pieces < PROBE_PIECES) return;
      this.probeRate = rate;
      this.start('wait');
    } else if (this.phase === 'wait') {
      if (this.pieces >= 2 && rate * LOSS < this.probeRate) {
        this.verdicts.lost++;
        this.waitPieces = WAIT_PIECES_MIN;
        this.noWaitUntil = now + (now - since) * this.penalty;
        this.penalty = Math.min(this.penalty * 2, NO_WAIT_PENALTY_MAX);
        this.start('no-wait');
      } else if (this.pieces >= this.waitPieces) {
        this.verdicts.kept++;
        this.penalty = NO_WAIT_PENALTY;
        this.waitPieces = Math.min(this.waitPieces * 2, WAIT_PIECES_MAX);
        this.start('probe');
      }
    } else if (this.pieces >= NO_WAIT_PIECES && now >= this.noWaitUntil) this.start('probe');
  }

  private start(phase: Phase): void {
    this.phase = phase;
    this.pieces = 0;
    this.bytes = 0;
    this.since = this.lastPush;
  }
}
