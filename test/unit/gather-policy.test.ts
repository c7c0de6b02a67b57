// GatherPolicy (agent/adapters/gather-policy.ts) against two model links on a fake clock: one whose rate the network
// sets (waits gather more at the same bytes per second: keep them), and one whose receive buffer a wait fills (the
// sender stops: waits cost throughput, so they stop).
import { describe, expect, it } from 'vitest';
import { GatherPolicy, PROBE_PIECES } from '../../agent/adapters/gather-policy.js';

const WAIT_MS = 8;

/** A link: the piece a read gives and the milliseconds it took, with or without a wait before the push. */
type Link = (wait: boolean) => { bytes: number; ms: number };

/** Runs `pieces` pushes over `link`; the share of pieces that waited, the bytes per ms achieved, the verdicts. */
function drive(link: Link, pieces: number) {
  const policy = new GatherPolicy();
  let now = 1000;
  let waited = 0;
  let bytes = 0;
  for (let i = 0; i < pieces; i++) {
    const wait = policy.mayWait();
    const piece = link(wait);
    if (wait) waited++;
    now += piece.ms;
    bytes += piece.bytes;
    policy.pushed(piece.bytes, now);
  }
  return { waitedShare: waited / pieces, rate: bytes / (now - 1000), verdicts: policy.verdicts };
}

// the network at 40 MB/s (40,000 bytes per ms), reads of 128 KiB as they come; a wait adds 8 ms of arrivals
const paced: Link = (wait) => {
  const bytes = 128 * 1024 + (wait ? 40_000 * WAIT_MS : 0);
  return { bytes, ms: bytes / 40_000 };
};
// a sender 10x faster than that, behind a 64 KiB receive window: a read as it comes takes a round trip; a wait
// fills the window in the first of its 8 ms and the sender then stops
const windowed: Link = (wait) => (wait ? { bytes: 64 * 1024, ms: WAIT_MS } : { bytes: 64 * 1024, ms: (64 * 1024) / 400_000 });

describe('GatherPolicy', () => {
  it('starts with a probe: the first pieces never wait', () => {
    const policy = new GatherPolicy();
    for (let i = 0; i < PROBE_PIECES; i++) {
      expect(policy.mayWait()).toBe(false);
      policy.pushed(1000, i + 1);
    }
    expect(policy.mayWait()).toBe(true);
  });

  it('keeps waiting on a link whose rate the network sets, probing ever less often', () => {
    const r = drive(paced, 5000);
    expect(r.verdicts.lost).toBe(0);
    expect(r.verdicts.kept).toBeGreaterThan(3);
    expect(r.waitedShare).toBeGreaterThan(0.9);
    expect(r.rate).toBeCloseTo(40_000, -2);
  });

  it('stops waiting where a wait fills the receive buffer, and keeps almost all of the throughput', () => {
    const r = drive(windowed, 5000);
    expect(r.verdicts.lost).toBeGreaterThan(0);
    expect(r.verdicts.kept).toBe(0);
    expect(r.waitedShare).toBeLessThan(0.05);
    // waiting on every piece would give 64 KiB per 8 ms (8,192 bytes per ms)
    expect(r.rate).toBeGreaterThan(0.9 * 400_000);
  });

  it('goes back to waiting when the link changes from one to the other', () => {
    const policy = new GatherPolicy();
    let now = 0;
    let waited = 0;
    for (let i = 0; i < 20_000; i++) {
      const wait = policy.mayWait();
      const piece = (i < 2000 ? windowed : paced)(wait);
      if (i >= 12_000 && wait) waited++;
      policy.pushed(piece.bytes, (now += piece.ms));
    }
    expect(policy.verdicts.lost).toBeGreaterThan(0);
    expect(policy.verdicts.kept).toBeGreaterThan(0);
    expect(waited / 8000).toBeGreaterThan(0.9);
  });
});
