// The download's body queue (body-queue.ts): bounded by bytes over the body itself, or pulling from the socket under it.

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BodyQueue } from '../../agent/adapters/body-queue.js';

const turn = () => new Promise((r) => setImmediate(r));

function pulling() {
  const body = new PassThrough();
  const calls: string[] = [];
  const queue = new BodyQueue(body, 128 << 10, { hold: () => calls.push('hold'), release: () => calls.push('release') });
  return { body, calls, queue };
}

describe('BodyQueue', () => {
  it('pulling: holds the flow as soon as a chunk waits, and releases it only when a take finds nothing', async () => {
    const { body, calls, queue } = pulling();
    body.write(Buffer.alloc(10));
    await turn();
    expect(calls).toEqual(['hold']);
    expect((await queue.take())?.length).toBe(10);
    // the chunk was taken: the next one is read when it is asked for, not while this one is written
    expect(calls).toEqual(['hold']);
    const next = queue.take();
    expect(calls).toEqual(['hold', 'release']);
    body.write(Buffer.alloc(20));
    expect((await next)?.length).toBe(20);
    expect(calls).toEqual(['hold', 'release', 'hold']);
  });

  it('pulling: unbound() releases for good, and the end comes after every chunk', async () => {
    const { body, calls, queue } = pulling();
    body.write(Buffer.alloc(1));
    await turn();
    queue.unbound();
    body.write(Buffer.alloc(2));
    body.end(Buffer.alloc(3));
    await turn();
    expect(calls).toEqual(['hold', 'release']);
    const sizes: number[] = [];
    for (let c = await queue.take(); c; c = await queue.take()) sizes.push(c.length);
    expect(sizes).toEqual([1, 2, 3]);
  });

  it('over the body: pauses it beyond the bound and resumes it at half', async () => {
    const body = new PassThrough();
    const queue = new BodyQueue(body, 100);
    body.write(Buffer.alloc(60));
    body.write(Buffer.alloc(60));
    await turn();
    expect(body.isPaused()).toBe(true);
    await queue.take(); // 60 left: above half of the bound
    expect(body.isPaused()).toBe(true);
    await queue.take();
    expect(body.isPaused()).toBe(false);
  });
});
