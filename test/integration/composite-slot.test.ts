// A slot of several partitions written back to back (a Pi's FAT boot partition, then its root filesystem): the image
// fills the first part whole and goes on in the next; resuming lands in the right part; reading chains the parts;
// re-installing writes nothing; a write past the last part is no-space; the slot is in use if any part is.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlotSet } from '../../platform/slots/slot-set.js';
import type { CompositeSlotWriter } from '../../platform/slots/composite-writer.js';

describe('composite slots', () => {
  let dir: string;
  let set: SlotSet;
  const parts = { boot: 48 * 1024, root: 256 * 1024 };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fota-composite-'));
    for (const name of ['boot-a', 'root-a', 'boot-b', 'root-b']) {
      await writeFile(join(dir, name), '');
      await truncate(join(dir, name), name.startsWith('boot') ? parts.boot : parts.root);
    }
    await writeFile(join(dir, 'cmdline'), `root=${join(dir, 'root-a')} rootwait`);
    set = new SlotSet({
      specs: { A: [join(dir, 'boot-a'), join(dir, 'root-a')], B: [join(dir, 'boot-b'), join(dir, 'root-b')] },
      views: { cmdline: join(dir, 'cmdline'), mountinfo: join(dir, 'none') },
    });
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  const collect = async (it: AsyncIterable<Uint8Array>) => Buffer.concat([...(await (async () => { const a: Buffer[] = []; for await (const c of it) a.push(Buffer.from(c)); return a; })())]);

  it('the image fills the boot part, then the root part; a resume lands in the right part', async () => {
    expect(await set.capacity('B')).toBe(parts.boot + parts.root);
    const image = randomBytes(100 * 1024);
    const first = await set.open('B', image.length, 0);
    await first.write(image.subarray(0, 70 * 1024));
    await first.sync();
    await first.abort();
    const rest = await set.open('B', image.length, 70 * 1024);
    expect(rest.position).toBe(70 * 1024);
    for (let at = 70 * 1024; at < image.length; at += 7000) await rest.write(image.subarray(at, Math.min(at + 7000, image.length)));
    await rest.finish();
    expect((await readFile(join(dir, 'boot-b'))).equals(image.subarray(0, parts.boot))).toBe(true);
    expect((await readFile(join(dir, 'root-b'))).subarray(0, image.length - parts.boot).equals(image.subarray(parts.boot))).toBe(true);
    expect((await collect(set.read('B', image.length))).equals(image)).toBe(true);
  });

  it('re-installing writes nothing in either part; past the last part is no-space', async () => {
    const image = randomBytes(200 * 1024);
    const write = async () => {
      const w = (await set.open('B', image.length, 0)) as CompositeSlotWriter;
      await w.write(image);
      await w.finish();
      return w.stats.map((s) => s.written);
    };
    expect(await write()).toEqual([parts.boot, image.length - parts.boot]);
    expect(await write()).toEqual([0, 0]);
    const w = await set.open('B', parts.boot + parts.root, parts.boot + parts.root - 10);
    await expect(w.write(new Uint8Array(11))).rejects.toMatchObject({ code: 'no-space' });
    await w.abort();
  });

  it('a slot whose root part is the root device is in use', async () => {
    expect(await set.inUse('A')).toMatch(/root-a is the root device the kernel was booted with/);
    expect(await set.inUse('B')).toBeUndefined();
    await expect(set.open('A', 10, 0)).rejects.toMatchObject({ code: 'io-error' });
  });
});
