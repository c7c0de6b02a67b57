// agent/adapters/memory.ts: its "major" collections must really be full GCs. A buffer that survived the minor GCs
// of a download sits in the old generation, where only a full GC frees it (on Node 20, gc({ type: 'major' }) was a
// minor GC, and each 16 MiB download left its slot writer's buffers behind: issue 10 #9).
import { setImmediate as tick } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import { disableForcedGc, reclaimEvery, reclaimNow } from '../../agent/adapters/memory.js';

/** A 1 MiB buffer moved to the old generation by minor GCs (V8 promotes what survives two), and a weak ref to it. */
async function promotedBuffer(minor: (n: number) => void, size = 1 << 20): Promise<{ drop: () => void; ref: WeakRef<Buffer> }> {
  let buf: Buffer | undefined = Buffer.alloc(size, 1);
  const ref = new WeakRef(buf);
  for (let i = 0; i < 3; i++) {
    // a WeakRef keeps its target alive until the end of the job that made or read it: let each job end
    await tick();
    minor(1);
  }
  return { drop: () => (buf = undefined), ref };
}

describe('memory reclaim', () => {
  // a counter's mark is the buffers' memory when it is made: no garbage of an earlier test in it
  beforeEach(async () => {
    await tick();
    reclaimNow();
  });

  it('reclaimNow frees a buffer promoted to the old generation', async () => {
    const { drop, ref } = await promotedBuffer(reclaimEvery(1, Number.MAX_SAFE_INTEGER));
    expect(ref.deref() !== undefined, 'still alive after the minor GCs').toBe(true);
    drop();
    await tick();
    reclaimNow();
    expect(ref.deref() === undefined, 'freed by the full GC').toBe(true);
  });

  it('reclaimEvery runs a full GC at every majorEveryBytes when promoted buffers piled up past majorAboveBytes', async () => {
    // a GC per byte; the 4th byte's looks at the buffers' memory: 1 MiB more than when the counter was made
    const reclaim = reclaimEvery(1, 4, 512 << 10);
    const { drop, ref } = await promotedBuffer(reclaim);
    drop();
    await tick();
    reclaim(1);
    expect(ref.deref() === undefined, 'freed by the full GC of the 4th byte').toBe(true);
  });

  it('reclaimEvery runs no full GC while the buffers’ memory stays under majorAboveBytes (they cost 0.6 CPU-s per GiB)', async () => {
    const reclaim = reclaimEvery(1, 4, 4 << 20);
    const { drop, ref } = await promotedBuffer(reclaim);
    drop();
    await tick();
    for (let i = 0; i < 8; i++) reclaim(1);
    expect(ref.deref() !== undefined, 'only minor GCs ran: the promoted buffer waits').toBe(true);
    await tick();
    reclaimNow();
  });

  // retried: it reads the worker's whole Buffer memory, which failed it once in ~15 runs; without the mark raised it fails every try
  it('what a full GC leaves alive raises the mark: live buffers do not call for a full GC at every check', { retry: 2 }, async () => {
    // margins of MiBs: other code in the test worker allocates and frees buffers meanwhile
    const reclaim = reclaimEvery(1, 4, 2 << 20);
    const live = Buffer.alloc(4 << 20, 1); // alive throughout: over the mark from the start
    const first = await promotedBuffer(reclaim, 4 << 20);
    first.drop();
    await tick();
    reclaim(1); // the 4th byte: a full GC frees the garbage; the live 4 MiB raise the mark
    expect(first.ref.deref() === undefined, 'freed by the first full GC').toBe(true);
    // 1 MiB of garbage: over the first mark with the live 4 MiB, under the raised one
    const small = await promotedBuffer(reclaim, 1 << 20);
    small.drop();
    await tick();
    reclaim(1); // the 8th byte
    expect(small.ref.deref() !== undefined, 'no full GC for the live 4 MiB').toBe(true);
    const second = await promotedBuffer(reclaim, 4 << 20);
    second.drop();
    await tick();
    reclaim(1); // the 12th byte: 5 MiB of garbage over the raised mark: a full GC again
    expect(second.ref.deref() === undefined, 'garbage over the raised mark still collected').toBe(true);
    expect(live.length).toBe(4 << 20);
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
