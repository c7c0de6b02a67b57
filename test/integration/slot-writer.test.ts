// The slot writer on a real slot (a loop device where the machine allows it, a file otherwise): identical blocks are
// not rewritten (bytes measured from /sys/block/NAME/stat or /proc/self/io), writes are large and aligned to the
// slot, and finish() reads the slot back from the medium (past the page cache) and refuses a slot that lies.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readlink, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FotaError } from '../../agent/core/errors.js';
import { COMPARE_BLOCK, flushBlockDeviceBuffers, openSlotWriter, STAGE_BYTES, type SlotWriterOptions } from '../../platform/slots/slot-writer.js';
import { DirectReader, withSlack } from '../../platform/slots/direct-read.js';
import { loggedTool } from '../helpers/logged-tool.js';
import { loopDevicesWork, makeTestSlot, type TestSlot } from '../helpers/slot-devices.js';

const MiB = 1024 * 1024;
const SLOT = 8 * MiB;

/** Writes `image` at `offset` in 64 KiB network-sized chunks and finishes; returns the finished writer. */
async function installed(path: string, image: Buffer, opts: SlotWriterOptions = {}, offset = 0) {
  const w = await openSlotWriter(path, offset, SLOT, opts);
  try {
    for (let at = offset; at < image.length; at += 64 * 1024) await w.write(image.subarray(at, Math.min(at + 64 * 1024, image.length)));
    await w.finish();
  } catch (e) {
    await w.abort(); // as the agent does: a failed finish() leaves the slot open for a retry
    throw e;
  }
  return w;
}

/** installed(), and what the writer did */
async function install(path: string, image: Buffer, opts: SlotWriterOptions = {}, offset = 0) {
  return (await installed(path, image, opts, offset)).stats;
}

async function readAt(file: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const b = Buffer.alloc(length);
    await fh.read(b, 0, length, offset);
    return b;
  } finally {
    await fh.close();
  }
}

/** This process's open handles on `path` (/proc/self/fd). */
async function handlesOn(path: string): Promise<number> {
  const fds = await readdir('/proc/self/fd');
  const targets = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
  return targets.filter((t) => t === path).length;
}

async function patchFile(file: string, offset: number, bytes: Buffer): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, offset);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

describe.each([
  ['a loop device', true],
  ['a file', false],
] as const)('slot writer on %s', (_what, loop) => {
  let dir: string;
  let slot: TestSlot;
  beforeEach(async (ctx) => {
    dir = await mkdtemp(join(tmpdir(), 'fota-slotw-'));
    slot = await makeTestSlot(join(dir, 'slot.img'), SLOT, { loop });
    // where loop devices cannot be attached the file variant covers the same behaviour; say so instead of lying
    if (loop && !slot.loop) await ctx.annotate('no loop devices on this machine: ran on a file');
  });
  afterEach(async () => {
    await slot.release();
    await rm(dir, { recursive: true, force: true });
  });

  it('re-installing the same image writes almost nothing; one changed byte rewrites one block', async () => {
    const image = randomBytes(6 * MiB);
    await slot.writtenSince();
    const first = await install(slot.path, image);
    expect(first).toEqual({ received: image.length, written: image.length, skipped: 0 });
    expect(await slot.writtenSince()).toBeGreaterThanOrEqual(image.length);

    const again = await install(slot.path, image);
    expect(again).toEqual({ received: image.length, written: 0, skipped: image.length });
    expect(await slot.writtenSince()).toBeLessThan(128 * 1024);

    const changed = Buffer.from(image);
    changed[3 * MiB + 5] = changed[3 * MiB + 5]! ^ 0xff;
    const one = await install(slot.path, changed);
    expect(one.written).toBe(COMPARE_BLOCK);
    const measured = await slot.writtenSince();
    expect(measured).toBeGreaterThanOrEqual(COMPARE_BLOCK);
    // a loop device sees the one 4 KiB block; a file's write_bytes counts whole page-cache folios (up to 2 MiB on
    // current kernels' ext4), so there the figure only bounds it
    expect(measured).toBeLessThanOrEqual(slot.loop ? 64 * 1024 : 2 * MiB);
    expect((await readAt(slot.file, 0, image.length)).equals(changed)).toBe(true);
  });

  it('without skipIdentical every byte is written again (the figure the skipping saves)', async () => {
    const image = randomBytes(4 * MiB);
    await install(slot.path, image);
    await slot.writtenSince();
    expect(await install(slot.path, image, { skipIdentical: false })).toEqual({ received: image.length, written: image.length, skipped: 0 });
    expect(await slot.writtenSince()).toBeGreaterThanOrEqual(image.length);
  });

  it('writes in runs aligned to the slot: a resumed write reaches the next 512 KiB boundary first', async () => {
    const image = randomBytes(3 * MiB + 1000);
    const writes: [number, number][] = [];
    await install(slot.path, image, { trace: (o, n) => writes.push([o, n]) }, 100_000);
    expect(writes[0]).toEqual([100_000, STAGE_BYTES - 100_000]);
    for (const [o, n] of writes.slice(1, -1)) expect([o % STAGE_BYTES, n]).toEqual([0, STAGE_BYTES]);
    const [lastAt, lastLen] = writes[writes.length - 1]!;
    expect([lastAt % STAGE_BYTES, lastAt + lastLen]).toEqual([0, image.length]);
    // only the changed blocks are written, each run whole and aligned to 4 KiB
    await install(slot.path, image);
    const changed = Buffer.from(image);
    for (const at of [600_000, 600_001, 2 * MiB + 7]) changed[at] = changed[at]! ^ 1;
    writes.length = 0;
    await install(slot.path, changed, { trace: (o, n) => writes.push([o, n]) });
    expect(writes).toEqual([
      [Math.floor(600_000 / COMPARE_BLOCK) * COMPARE_BLOCK, COMPARE_BLOCK],
      [2 * MiB, COMPARE_BLOCK],
    ]);
  });

  it('the read-back catches a slot that does not hold what was written', async () => {
    const image = randomBytes(2 * MiB);
    // between fdatasync and the read-back, the medium changes behind the writer's back
    const corrupt = () => patchFile(slot.file, MiB + 10, Buffer.from([image[MiB + 10]! ^ 0x40]));
    const e = await install(slot.path, image, { dropCache: async (p) => (await corrupt(), loop ? flushBlockDeviceBuffers(p) : undefined) }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FotaError);
    expect((e as FotaError).code).toBe('integrity-mismatch');
    expect((e as FotaError).message).toMatch(/does not hold what was written/);
  });

  it('takes writes while a sync() is in flight (a checkpoint’s fdatasync), and the slot holds every byte in order', async () => {
    const image = randomBytes(4 * MiB + 12_345);
    const w = await openSlotWriter(slot.path, 0, SLOT, { expect: { sha256: createHash('sha256').update(image).digest('hex'), size: image.length } });
    const syncs: Promise<void>[] = [];
    for (let at = 0, n = 0; at < image.length; at += 100_000, n++) {
      await w.write(image.subarray(at, Math.min(at + 100_000, image.length)));
      // not awaited: the next writes go on, and a stage left half full is written by the sync's flush first
      if (n % 7 === 3) syncs.push(w.sync());
    }
    await w.finish(); // reads 0..size back and compares with the image's hash
    await Promise.all(syncs);
    expect((await readAt(slot.file, 0, image.length)).equals(image)).toBe(true);
    // on a block device all of it read back with O_DIRECT, also after the syncs left the stages off the alignment
    // (part of it, maybe, while the writes went on: what a sync made durable, read back early)
    expect([w.readBack.direct, w.readBack.cached]).toEqual(slot.loop ? [image.length, 0] : [0, image.length]);
    expect(await handlesOn(slot.path)).toBe(0);
  });
});

describe('slot writer read-back against the signed image hash', () => {
  // through the page cache (a file's default) and with O_DIRECT (a block device's)
  it.for([false, true])('checks bytes 0..size, including the part an earlier run wrote before a resume (O_DIRECT: %s)', async (directReadBack) => {
    const dir = await mkdtemp(join(tmpdir(), 'fota-slotw-'));
    const slot = await makeTestSlot(join(dir, 'slot.img'), SLOT, { loop: false });
    try {
      const image = randomBytes(2 * MiB);
      const expect_ = { sha256: createHash('sha256').update(image).digest('hex'), size: image.length };
      await install(slot.path, image, { expect: expect_, directReadBack });
      // the slot's first bytes change after the checkpoint; the resumed writer must not vouch for them
      await patchFile(slot.file, 10, Buffer.from([image[10]! ^ 1]));
      await expect(install(slot.path, image, { expect: expect_, directReadBack }, MiB)).rejects.toMatchObject({ code: 'integrity-mismatch', message: expect.stringMatching(/bytes 0-2097152/) });
      await patchFile(slot.file, 10, image.subarray(10, 11));
      await expect(install(slot.path, image, { expect: expect_, directReadBack }, MiB)).resolves.toMatchObject({ received: MiB });
      // a writer finished before the end of the image is not a verified image
      const w = await openSlotWriter(slot.path, 0, SLOT, { expect: expect_, directReadBack });
      await w.write(image.subarray(0, 1000));
      await expect(w.finish()).rejects.toMatchObject({ code: 'integrity-mismatch', message: expect.stringMatching(/finished at byte 1000, not at the end/) });
      await w.abort();
      // a slot that ends before the image does (cut short between the fdatasync and the read-back): several reads are
      // in flight, and the short one is found in its turn
      const long = randomBytes(3 * MiB + 12_345);
      const cut = () => truncate(slot.file, MiB + 1000);
      await expect(install(slot.path, long, { expect: { sha256: createHash('sha256').update(long).digest('hex'), size: long.length }, directReadBack, dropCache: cut })).rejects.toMatchObject({
        code: 'integrity-mismatch',
        message: expect.stringMatching(new RegExp(`ends at byte ${MiB + 1000}, before the ${long.length} bytes written`)),
      });
    } finally {
      await slot.release();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('slot writer read-back on a block device', () => {
  it('reads the medium, not the page cache: with O_DIRECT, or through the cache after blockdev --flushbufs', async (ctx) => {
    if (!(await loopDevicesWork())) {
      // without a block device there is no device cache to bypass; the file variant above covers the check itself
      await ctx.annotate('no loop devices on this machine: nothing to bypass');
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'fota-slotw-'));
    const slot = await makeTestSlot(join(dir, 'slot.img'), SLOT);
    try {
      // corrupt the backing file: the loop device's own cache still holds the good bytes
      const corrupting = (image: Buffer) => () => patchFile(slot.file, 100, Buffer.from([image[100]! ^ 1]));
      let image = randomBytes(2 * MiB);
      // through the page cache without dropping it, the read-back sees the cached (good) copy and misses the fault …
      await expect(install(slot.path, image, { dropCache: corrupting(image), directReadBack: false })).resolves.toMatchObject({ written: image.length });
      // … dropping it first catches the fault …
      image = randomBytes(2 * MiB);
      await expect(install(slot.path, image, { dropCache: async (p) => (await corrupting(image)(), flushBlockDeviceBuffers(p)), directReadBack: false })).rejects.toMatchObject({ code: 'integrity-mismatch' });
      // … and O_DIRECT (the default) reads the medium whatever the cache holds
      image = randomBytes(2 * MiB);
      await expect(install(slot.path, image, { dropCache: corrupting(image) })).rejects.toMatchObject({ code: 'integrity-mismatch' });
    } finally {
      await slot.release();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('slot writer page cache on a block device', () => {
  it('runs blockdev --flushbufs only before a read through the page cache: an all-O_DIRECT read-back needs none', async (ctx) => {
    if (!(await loopDevicesWork())) return void (await ctx.annotate('no loop devices on this machine: nothing to drop'));
    const dir = await mkdtemp(join(tmpdir(), 'fota-slotw-'));
    const slot = await makeTestSlot(join(dir, 'slot.img'), SLOT);
    // a blockdev first on PATH that logs its arguments and runs the real one
    const bin = join(dir, 'bin');
    await mkdir(bin);
    const calls = (await loggedTool(bin, 'blockdev')).runs;
    const path0 = process.env['PATH'];
    process.env['PATH'] = `${bin}:${path0}`;
    try {
      const image = randomBytes(2 * MiB);
      const sha256 = createHash('sha256').update(image).digest('hex');
      // all direct: the cache is left to the writer's close, the device's last
      expect(await installed(slot.path, image, { expect: { sha256, size: image.length } }).then((w) => w.readBack)).toEqual({ direct: image.length, cached: 0, early: 0 });
      expect(await calls()).toEqual([]);
      // through the page cache: dropped first, once
      await install(slot.path, image, { directReadBack: false });
      expect(await calls()).toEqual([`--flushbufs ${slot.path}`]);
      // a resumed writer without the image's hash: its first read, off the alignment, goes through the cache
      expect(await installed(slot.path, image, {}, 100_000).then((w) => w.readBack.cached)).toBe(STAGE_BYTES - 100_000);
      expect(await calls()).toEqual([`--flushbufs ${slot.path}`, `--flushbufs ${slot.path}`]);
    } finally {
      process.env['PATH'] = path0;
      await slot.release();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('slot writer read-back with O_DIRECT', () => {
  /** Installs `image` at `offset` (resumed) and returns how the writer read it back. */
  const readBackOf = async (path: string, image: Buffer, opts: SlotWriterOptions = {}, offset = 0) => ({ ...(await installed(path, image, opts, offset)).readBack });

  it.for([
    ['a loop device', true],
    ['a file on a disk filesystem', false],
  ] as const)('on %s every byte can be read direct, whatever the image size and start', async ([, loop], ctx) => {
    const dir = await mkdtemp(join(tmpdir(), 'fota-slotw-'));
    const slot = await makeTestSlot(join(dir, 'slot.img'), SLOT, { loop });
    try {
      // where loop devices cannot be attached the file case covers the same reads
      if (loop && !slot.loop) return void (await ctx.annotate('no loop devices on this machine'));
      // sizes off every alignment: the last read asks for whole 4 KiB blocks and hashes only the image's bytes
      // the default: direct on a block device; a file (the simulator's slots) through the page cache
      const direct = loop ? {} : { directReadBack: true };
      for (const size of [4 * MiB, 4 * MiB + 12_345, 1, STAGE_BYTES + 511]) {
        const image = randomBytes(size);
        const sha256 = createHash('sha256').update(image).digest('hex');
        expect(await readBackOf(slot.path, image, { expect: { sha256, size }, ...direct })).toEqual({ direct: size, cached: 0, early: 0 });
        if (!loop) expect(await readBackOf(slot.path, image, { expect: { sha256, size } })).toEqual({ direct: 0, cached: size, early: 0 });
      }
      // a resumed writer without the image's hash reads back from where it started: the first read, off the
      // alignment, goes through the cache and ends on a stage boundary, the rest is direct
      const image = randomBytes(3 * MiB);
      expect(await readBackOf(slot.path, image, direct, 100_000)).toEqual({ direct: 3 * MiB - STAGE_BYTES, cached: STAGE_BYTES - 100_000, early: 0 });
      // the reads a corrupt byte past the last whole block would hide: the tail is compared too
      const tail = randomBytes(4 * MiB + 7);
      const sha256 = createHash('sha256').update(tail).digest('hex');
      const corrupt = () => patchFile(slot.file, tail.length - 1, Buffer.from([tail[tail.length - 1]! ^ 1]));
      await expect(readBackOf(slot.path, tail, { expect: { sha256, size: tail.length }, dropCache: corrupt, ...direct })).rejects.toMatchObject({ code: 'integrity-mismatch' });
    } finally {
      await slot.release();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads back what a sync() made durable while the writes go on; finish() reads the rest, and checks all of it', async (ctx) => {
    const dir = await mkdtemp(join(tmpdir(), 'fota-slotw-'));
    const slot = await makeTestSlot(join(dir, 'slot.img'), SLOT);
    // the default on a block device; where loop devices cannot be attached, a file read with O_DIRECT
    const direct = slot.loop ? {} : { directReadBack: true };
    if (!slot.loop) await ctx.annotate('no loop devices on this machine: ran on a file');
    const image = randomBytes(6 * MiB + 12_345);
    const opts = { expect: { sha256: createHash('sha256').update(image).digest('hex'), size: image.length }, ...direct };
    // synced at 3 MiB + 8 KiB: the stage at 3 MiB is durable in part, and the writes after it start on a new page
    const synced = 3 * MiB + 8192;
    const upToSync = async () => {
      const w = await openSlotWriter(slot.path, 0, SLOT, opts);
      await w.write(image.subarray(0, synced));
      await w.sync();
      // whole stages only, [0, 3 MiB): never bytes no fdatasync has returned for
      await vi.waitFor(() => expect(w.readBack.early).toBe(3 * MiB));
      await w.write(image.subarray(synced, 5 * MiB));
      await new Promise((r) => setTimeout(r, 50));
      expect(w.readBack.early).toBe(3 * MiB);
      await w.write(image.subarray(5 * MiB));
      return w;
    };
    try {
      const w = await upToSync();
      await w.finish();
      // each byte read back once: 3 MiB while the writes went on, the rest at finish
      expect(w.readBack).toEqual({ direct: image.length, cached: 0, early: 3 * MiB });
      expect((await readAt(slot.file, 0, image.length)).equals(image)).toBe(true);
      // a durable byte the early read-back had not reached yet is read at finish, and a change to it caught
      const w2 = await upToSync();
      await patchFile(slot.file, 3 * MiB + 10, Buffer.from([image[3 * MiB + 10]! ^ 1]));
      await expect(w2.finish()).rejects.toMatchObject({ code: 'integrity-mismatch', message: expect.stringMatching(/bytes 0-6303801 /) });
      // a retried finish reads all of it again, not from where the early read-back stopped
      await patchFile(slot.file, 3 * MiB + 10, image.subarray(3 * MiB + 10, 3 * MiB + 11));
      await w2.finish();
      expect(w2.readBack).toEqual({ direct: image.length, cached: 0, early: 0 });
      // a resumed writer: the bytes before its start were made durable by the run before, and are read back early too
      const w4 = await openSlotWriter(slot.path, 3 * MiB, SLOT, opts);
      await w4.write(image.subarray(3 * MiB, 5 * MiB));
      await w4.sync();
      await vi.waitFor(() => expect(w4.readBack.early).toBe(5 * MiB));
      await w4.write(image.subarray(5 * MiB));
      await w4.finish();
      expect(w4.readBack).toEqual({ direct: image.length, cached: 0, early: 5 * MiB });
      // an abort while the early read-back may still be reading leaves no handle on the slot
      const w3 = await openSlotWriter(slot.path, 0, SLOT, opts);
      await w3.write(image.subarray(0, 6 * MiB));
      await w3.sync();
      await w3.abort();
      expect(await handlesOn(slot.path)).toBe(0);
    } finally {
      await slot.release();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a read that cannot be direct is left to the page cache: off the alignment, or a buffer without room to align', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fota-slotw-'));
    const slot = await makeTestSlot(join(dir, 'slot.img'), SLOT, { loop: false, content: randomBytes(MiB) });
    const direct = await DirectReader.open(slot.path);
    try {
      expect(direct).toBeDefined();
      const buf = withSlack(STAGE_BYTES);
      const first = await direct!.read(buf, 10_000, 0);
      expect(first?.n).toBe(10_000);
      expect(first!.view.subarray(0, 10_000).equals(await readAt(slot.file, 0, 10_000))).toBe(true);
      // the aligned view found by the first read is the one the next reads use
      const again = await direct!.read(buf, STAGE_BYTES, STAGE_BYTES);
      expect([again?.n, again?.view.byteOffset]).toEqual([MiB - STAGE_BYTES, first!.view.byteOffset]);
      expect(again!.view.subarray(0, again!.n).equals(await readAt(slot.file, STAGE_BYTES, MiB - STAGE_BYTES))).toBe(true);
      expect(await direct!.read(buf, 4096, 512)).toBeUndefined();
      expect(await direct!.read(Buffer.allocUnsafe(STAGE_BYTES), 4096, 0)).toBeUndefined();
      expect(await direct!.read(withSlack(8192), 8193, 0)).toBeUndefined();
    } finally {
      await direct?.close();
      await slot.release();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
