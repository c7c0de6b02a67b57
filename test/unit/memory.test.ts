// agent/adapters/memory.ts: its "major" collections must really be full GCs. A buffer that survived the minor GCs
// of a download sits in the old generation, where only a full GC frees it (on Node 20, gc({ type: 'major' }) was a
// minor GC, and each 16 MiB download left its slot writer's buffers behind: issue 10 #9).
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { disableForcedGc, reclaimEvery, reclaimNow } from '../../agent/adapters/memory.js';

/** A 1 MiB buffer moved to the old generation by minor GCs (V8 promotes what survives two), and a weak ref to it. */
async function promotedBuffer(minor: (n: number) => void): Promise<{ drop: () => void; ref: WeakRef<Buffer> }> {
  let buf: Buffer | undefined = Buffer.alloc(1 << 20, 1);
  const ref = new WeakRef(buf);
  for (let i = 0; i < 3; i++) {
    // a WeakRef keeps its target alive until the end of the job that made or read it: let each job end
    await tick();
    minor(1);
  }
  return { drop: () => (buf = undefined), ref };
}

describe('memory reclaim', () => {
  it('reclaimNow frees a buffer promoted to the old generation', async () => {
    const { drop, ref } = await promotedBuffer(reclaimEvery(1, Number.MAX_SAFE_INTEGER));
    expect(ref.deref() !== undefined, 'still alive after the minor GCs').toBe(true);
    drop();
    await tick();
    reclaimNow();
    expect(ref.deref() === undefined, 'freed by the full GC').toBe(true);
  });

  it('reclaimEvery runs a full GC every majorEveryBytes', async () => {
    // a GC per byte; the 4th byte's is the full one
    const reclaim = reclaimEvery(1, 4);
    const { drop, ref } = await promotedBuffer(reclaim);
    drop();
    await tick();
    reclaim(1);
    expect(ref.deref() === undefined, 'freed by the full GC of the 4th byte').toBe(true);
  });

  // last: the switch is process-wide (a fleet host of thousands of agents turns it on before any starts)
  it('disableForcedGc makes reclaimNow and new counters no-ops', async () => {
    const { drop, ref } = await promotedBuffer(reclaimEvery(1, Number.MAX_SAFE_INTEGER));
    drop();
    await tick();
    disableForcedGc();
    reclaimNow();
    reclaimEvery(1, 1)(1);
    expect(ref.deref() !== undefined, 'not collected: no forced GC ran').toBe(true);
  });
});
