// Raw access to a slot (a partition, a loop device, or in tests and the simulator a file): a positional SlotWriter
// that never truncates, spares the flash (blocks that already hold the bytes are not rewritten), writes in large
// aligned runs, fdatasyncs, and on finish reads its bytes back and checks them before the image may be activated.
// Errors are FotaError ('no-space', 'integrity-mismatch', 'io-error').

import { execFile } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { read as fsRead } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { FotaError, toFotaError } from '../../agent/core/errors.js';
import type { SlotWriter } from '../../agent/core/ports.js';
import { DirectReader, readAll, withSlack } from './direct-read.js';

const READ_CHUNK = 256 * 1024;

/**
 * Buffers the read-back adds to the writer's two for the time it runs (4 reads of 512 KiB in flight, against 2):
 * the O_DIRECT reads of a loop device took as long as the SHA-256 of what they read (docs/benchmarks.md).
 */
const READ_BACK_EXTRA = 2;

/**
 * The early read-back's reads (readEarly): one at a time into one buffer of this size, kept while the writer is open
 * and then one of finish()'s read-back buffers. Each read is a round trip through libuv's threads, ~40 µs of CPU on a
 * 2-vCPU guest whatever its size: 512 KiB reads made 3,072 fewer of them per 512 MiB than 128 KiB reads did
 * (docs/benchmarks.md, "Gathered reads on a slow link").
 */
const EARLY_BYTES = 512 * 1024;

/**
 * The read-back of what a sync() made durable, while the download goes on (BlockSlotWriter.readEarly): the slot's
 * bytes [from, at) were read back with O_DIRECT into `hash`, EARLY_BYTES at a time into `view` (an aligned view of
 * `buf`, which finish() reads into next).
 * INVARIANT: at <= the writer's durable position; once `stopped`, it reads nothing more and finish() reads the rest.
 */
interface EarlyReadBack {
  hash: Hash;
  at: number;
  direct: DirectReader | undefined;
  buf: Buffer | undefined;
  view: Buffer | undefined;
  running: Promise<void> | undefined;
  stopped: boolean;
}

/**
 * Bytes are gathered into one reused 512 KiB buffer and written when it reaches a 512 KiB boundary of the slot (or on
 * sync/finish): a write per 64 KiB network chunk costs ~4x the CPU of the same bytes in big writes
 * (docs/benchmarks.md), reusing the buffer allocates nothing per chunk, and boundaries of the slot (not of the
 * stream) keep every write but the first and last aligned to the eMMC's erase-block multiples.
 */
export const STAGE_BYTES = 512 * 1024;

/** Granularity of the identical-block comparison: the page size of the page cache and of most flash FTLs. */
export const COMPARE_BLOCK = 4096;

/**
 * The slot's bytes are read for comparison this much at a time: a whole stage, one read per flush. 128 KiB windows
 * (four reads per flush) cost 0.14 CPU-s more per 256 MiB under --jitless (bench/slot-write-bench.mjs, `first`:
 * 1.14 -> 1.00 s) for 384 KiB less resident memory; the agent's private memory has room (docs/benchmarks.md).
 */
const COMPARE_WINDOW = STAGE_BYTES;

export interface SlotWriterOptions {
  /** compare each block with what the slot holds and skip identical writes (default true) */
  skipIdentical?: boolean;
  /** read the slot back after fdatasync and check it (default true): against `expect`, else the bytes handed in */
  verify?: boolean;
  /**
   * Read back with O_DIRECT where the medium allows it (direct-read.ts): half the CPU of reading through the page
   * cache. Default: for block devices; a file (the simulator, tests) is read through the page cache, as `dropCache`
   * leaves it: O_DIRECT there would make each simulated device read its image from the host's disk.
   */
  directReadBack?: boolean;
  /**
   * The whole image's SHA-256 and size (from the signed manifest): the read-back then covers bytes 0..size, however
   * much of it this writer wrote (a resumed download), and the writer checks the image (`checksImage`): nobody needs to
   * hash the incoming bytes, so the image is hashed once, as the medium holds it.
   */
  expect?: { sha256: string; size: number };
  /**
   * Drops the slot's cached pages before the read-back, so that reads the page cache must serve (no O_DIRECT) see the
   * medium. Given, it runs before every read-back (tests use it to change the medium behind the writer's back). The
   * default, for block devices only, is `blockdev --flushbufs`, run before the first read through the page cache: a
   * read-back that is all O_DIRECT needs none, and the writer's close, the device's last, then drops the slot's pages
   * as `--flushbufs` would (the kernel writes back and drops a block device's page cache on its last close). Best
   * effort: a failure is ignored.
   */
  dropCache?: (path: string) => Promise<void>;
  /** block device (true) or regular file */
  blockDevice?: boolean;
  /** sees each write (offset, length) as it is issued: benchmarks and tests */
  trace?: (offset: number, length: number) => void;
}

/** What a writer did, for tests and benchmarks. */
export interface SlotWriteStats {
  /** bytes handed to write() */
  received: number;
  /** bytes written to the slot */
  written: number;
  /** bytes that already held the same content and were not rewritten */
  skipped: number;
}

/**
 * INVARIANTS (the port's contract: one caller, calls in sequence, except that write() and finish() may follow a sync()
 * before it resolved)
 * - stage holds the bytes [flushed, position) not yet in the slot; a flush never crosses the next STAGE_BYTES boundary.
 * - without `expect`, `hash` covers exactly the bytes handed in since `start`, in order, and the read-back the same range;
 *   with it, the read-back covers 0..expect.size and is compared with expect.sha256.
 * - after finish or abort no byte reaches the slot (fh is undefined).
 */
export class BlockSlotWriter implements SlotWriter {
  private fh: FileHandle | undefined;
  private flushed: number;
  private stage: Buffer | undefined;
  private existing: Buffer | undefined;
  private staged = 0;
  private closing: Promise<void> | undefined;
  /** the flush of a sync() in flight; write() and finish() wait for it */
  private flushing: Promise<void> | undefined;
  /** the slot's bytes of the next stage, read into `existing` while the stage fills (readAhead) */
  private ahead: { at: number; read: Promise<number> } | undefined;
  private readonly hash: Hash | undefined;
  readonly stats: SlotWriteStats = { received: 0, written: 0, skipped: 0 };
  /**
   * The slot's bytes that a sync() made durable: those before `start` (a resume point is recorded after its
   * fdatasync), then each sync's flushed bytes once its fdatasync returned.
   */
  private durable: number;
  private early: EarlyReadBack | undefined;
  /**
   * The bytes the last read-back read with O_DIRECT and through the page cache; `early`, of them, while the download
   * went on (after the sync() that made them durable, before finish)
   */
  readonly readBack = { direct: 0, cached: 0, early: 0 };
  readonly checksImage: boolean;

  constructor(
    fh: FileHandle,
    private readonly path: string,
    private readonly start: number,
    private readonly capacity: number,
    private readonly opts: SlotWriterOptions = {},
  ) {
    this.fh = fh;
    this.flushed = start;
    this.durable = start;
    // one SHA-256 pass costs ~0.2 CPU-s per 256 MiB here (SHA-NI; several times that on a board without SHA
    // instructions): only when there is nothing to compare with
    this.hash = opts.verify !== false && !opts.expect ? createHash('sha256') : undefined;
    this.checksImage = opts.verify !== false && opts.expect !== undefined;
  }

  get position(): number {
    return this.flushed + this.staged;
  }

  async write(chunk: Uint8Array): Promise<void> {
    // a sync() in flight: its flush owns the stage until it is written (its fdatasync may go on meanwhile)
    if (this.flushing) await this.flushing;
    this.open();
    if (this.position + chunk.length > this.capacity)
      throw new FotaError('no-space', `the image does not fit slot ${this.path}: ${this.position + chunk.length} bytes needed, ${this.capacity} available`);
    const stage = (this.stage ??= withSlack(STAGE_BYTES));
    this.hash?.update(chunk);
    this.stats.received += chunk.length;
    let taken = 0;
    while (taken < chunk.length) {
      const room = STAGE_BYTES - (this.position % STAGE_BYTES);
      const n = Math.min(chunk.length - taken, room);
      stage.set(chunk.subarray(taken, taken + n), this.staged);
      this.staged += n;
      taken += n;
      if (n === room) await this.flush();
    }
  }

  /** Writes the staged bytes at their offset, leaving out the blocks the slot already holds. */
  private async flush(): Promise<void> {
    const fh = this.open();
    const stage = this.stage;
    if (!stage || this.staged === 0) return;
    const length = this.staged;
    try {
      if (this.opts.skipIdentical === false) await this.writeRun(fh, stage, this.flushed, 0, length);
      else await this.writeChanged(fh, stage, this.flushed, length);
    } catch (e) {
      throw toFotaError(e);
    }
    this.flushed += length;
    this.staged = 0;
  }

  /**
   * Starts reading the slot's bytes at `at` (the next stage) into `existing`, so that the comparison finds them there
   * instead of waiting for a read while the network is not being read (~2 s of wall per GiB on the loop device of
   * docs/benchmarks.md). Not past the image's end when its size is known, nor past the slot's.
   */
  private readAhead(at: number): void {
    const fh = this.fh;
    if (!fh) return;
    const n = Math.min(STAGE_BYTES - (at % STAGE_BYTES), Math.min(this.capacity, this.opts.expect?.size ?? Infinity) - at);
    if (n <= 0) return;
    const read = readAll(fh, (this.existing ??= withSlack(COMPARE_WINDOW)), n, at);
    read.catch(() => undefined); // a failure surfaces when the comparison takes it, or not at all
    this.ahead = { at, read };
  }

  /** The read ahead if it is for `at` (its byte count), else undefined once any read ahead is over. */
  private async takeAhead(at: number): Promise<number | undefined> {
    const ahead = this.ahead;
    this.ahead = undefined;
    if (!ahead) return undefined;
    if (ahead.at === at) return ahead.read;
    await ahead.read.catch(() => undefined); // not for this range: let it finish before `existing` is reused
    return undefined;
  }

  /**
   * Compares the stage (slot bytes [slotAt, slotAt + length)) with what the slot holds (one read of the range), starts
   * reading the next stage's bytes into `existing`, which the comparison is done with, and writes each run of
   * differing blocks (a fully new range is one write): the next stage's read goes on during this one's write.
   */
  private async writeChanged(fh: FileHandle, stage: Buffer, slotAt: number, length: number): Promise<void> {
    const existing = (this.existing ??= withSlack(COMPARE_WINDOW));
    // existing[0..have) holds the slot's bytes at stage offsets [windowAt, windowAt + have)
    let windowAt = 0;
    let have = (await this.takeAhead(slotAt)) ?? 0;
    /** [from, to) pairs of the runs to write */
    const runs: number[] = [];
    // the same image again: one comparison for the whole stage
    if (have >= length && stage.compare(existing, 0, length, 0, length) === 0) this.stats.skipped += length;
    else {
      let runStart = -1;
      for (let at = 0, end = 0; at < length; at = end) {
        // blocks aligned to the slot, not to the stage (a resumed write starts anywhere)
        end = Math.min(length, at + COMPARE_BLOCK - ((slotAt + at) % COMPARE_BLOCK));
        if (end > windowAt + have) {
          windowAt = at;
          have = await readAll(fh, existing, Math.min(COMPARE_WINDOW, length - at), slotAt + at);
        }
        // a block whose first or last byte differs differs: Buffer#compare is a call through several JavaScript
        // functions, and this loop runs 256 times per MiB, interpreted under --jitless (0.3-0.5 CPU-s per GiB)
        const e = at - windowAt;
        const same = end <= windowAt + have && stage[at] === existing[e] && stage[end - 1] === existing[end - 1 - windowAt] && stage.compare(existing, e, end - windowAt, at, end) === 0;
        if (!same && runStart < 0) runStart = at;
        if (same && runStart >= 0) runs.push(runStart, at);
        if (same) {
          this.stats.skipped += end - at;
          runStart = -1;
        }
      }
      if (runStart >= 0) runs.push(runStart, length);
    }
    this.readAhead(slotAt + length);
    for (let i = 0; i < runs.length; i += 2) await this.writeRun(fh, stage, slotAt, runs[i]!, runs[i + 1]!);
  }

  /** Writes stage[from, to) at slot byte slotAt + from. */
  private async writeRun(fh: FileHandle, stage: Buffer, slotAt: number, from: number, to: number): Promise<void> {
    this.opts.trace?.(slotAt + from, to - from);
    await writeAll(fh, stage, from, to - from, slotAt + from);
    this.stats.written += to - from;
  }

  /**
   * Writes what is staged, then fdatasyncs. write() may be called before this resolves: it waits for the staged
   * bytes to be written, not for the fdatasync, and what it writes is not promised durable by this sync.
   */
  async sync(): Promise<void> {
    const flushing = (this.flushing = this.flush());
    try {
      await flushing;
    } finally {
      if (this.flushing === flushing) this.flushing = undefined;
    }
    const upTo = this.flushed;
    try {
      await this.open().datasync();
    } catch (e) {
      throw toFotaError(e);
    }
    this.durable = Math.max(this.durable, upTo);
    this.readEarly();
  }

  /**
   * Reads back what is durable while the download goes on, so that finish() reads only the bytes after the last
   * sync: with the network slower than the medium's reads (a device), the read-back then costs no time (512 MiB at
   * 40 MB/s from a slot read at 100 MB/s: 13.7 s against 18.9, docs/benchmarks.md). Only with O_DIRECT (the medium,
   * not the page cache, and nothing to drop) and without a `dropCache` hook (whose contract is to run before the
   * read-back); one read of EARLY_BYTES at a time. Any failure (EIO, a short read, a read O_DIRECT refuses) stops it
   * and leaves the range to finish(), which reads it again and reports what fails.
   */
  private readEarly(): void {
    if (!this.fh || this.closing || this.opts.verify === false || this.opts.dropCache || !(this.opts.directReadBack ?? this.opts.blockDevice)) return;
    const e = (this.early ??= { hash: createHash('sha256'), at: this.opts.expect ? 0 : this.start, direct: undefined, buf: undefined, view: undefined, running: undefined, stopped: false });
    if (e.running || e.stopped) return;
    let ended!: () => void;
    e.running = new Promise<void>((resolve) => (ended = resolve));
    const done = (): void => {
      e.running = undefined;
      // aborted while it read: abort() took it already, or finds it stopped
      if (!this.fh) void e.direct?.close();
      ended();
    };
    const step = (): void => {
      const length = EARLY_BYTES - (e.at % EARLY_BYTES);
      const view = e.view;
      const fd = e.direct?.fd;
      if (e.stopped || !this.fh || e.at + length > this.durable || !view || fd === undefined) return done();
      fsRead(fd, view, 0, length, e.at, (err, n) => {
        if (err || n < length) e.stopped = true;
        else {
          e.hash.update(view.subarray(0, n));
          e.at += n;
          this.readBack.direct += n;
          this.readBack.early += n;
        }
        step();
      });
    };
    if (e.view) return step();
    // the first read finds the buffer's aligned view (direct-read.ts), the next are fs.read with a callback: promise
    // reads left objects that the download's forced minor GCs promoted (+1.2 MiB private at 1 GiB)
    void (async () => {
      try {
        e.direct ??= await DirectReader.open(this.path);
        if (!e.direct) return void (e.stopped = true);
        const length = EARLY_BYTES - (e.at % EARLY_BYTES);
        if (e.at + length > this.durable) return;
        e.buf ??= withSlack(EARLY_BYTES);
        const got = await e.direct.read(e.buf, length, e.at);
        if (!got || got.n < length || e.stopped) return void (e.stopped = true);
        e.view = got.view;
        e.hash.update(got.view.subarray(0, got.n));
        e.at += got.n;
        this.readBack.direct += got.n;
        this.readBack.early += got.n;
      } catch {
        e.stopped = true;
      }
    })().then(() => (e.view && !e.stopped ? step() : done()));
  }

  /** Stops the early read-back and hands over what it read (once: a retried finish() reads everything again). */
  private async takeEarly(): Promise<EarlyReadBack | undefined> {
    const e = this.early;
    this.early = undefined;
    if (!e) return undefined;
    e.stopped = true;
    await e.running;
    return e;
  }

  finish(): Promise<void> {
    this.closing ??= (async () => {
      const fh = this.fh;
      if (!fh) return;
      try {
        if (this.flushing) await this.flushing;
        await this.flush();
        await this.takeAhead(-1); // the read-back reuses `existing`
        await fh.datasync();
        // (bytes the early read-back read are durable since their sync; those after it, since this fdatasync)
        if (this.opts.verify !== false) await this.verify(fh);
      } catch (e) {
        this.closing = undefined; // not closed: let the caller retry or abort
        throw toFotaError(e);
      }
      this.fh = undefined;
      this.stage = undefined;
      this.existing = undefined;
      await fh.close().catch(() => undefined);
    })();
    return this.closing;
  }

  /**
   * Reads the slot back (0..expect.size, else the range written) and compares its SHA-256. From the medium: with
   * O_DIRECT where it works, else through the page cache after `dropCache`.
   */
  private async verify(fh: FileHandle): Promise<void> {
    const expect = this.opts.expect;
    if (expect && this.position !== expect.size)
      throw new FotaError('integrity-mismatch', `slot ${this.path} was finished at byte ${this.position}, not at the end of the ${expect.size}-byte image`);
    // what the early read-back read, [from, early.at), is not read again: the rest is read from there, into its hash
    const early = await this.takeEarly();
    if (!early) this.readBack.direct = this.readBack.cached = this.readBack.early = 0;
    await this.opts.dropCache?.(this.path).catch(() => undefined);
    // the default: once, before the first read through the page cache (a fork and ~50 ms saved when all is direct)
    let dropped = this.opts.dropCache || !this.opts.blockDevice ? Promise.resolve() : undefined;
    const direct = early?.direct ?? ((this.opts.directReadBack ?? this.opts.blockDevice) ? await DirectReader.open(this.path) : undefined);
    // the stage, the comparison window and READ_BACK_EXTRA more buffers (the early read-back's one of them): the next
    // reads run while this one is hashed
    const bufs = [(this.stage ??= withSlack(STAGE_BYTES)), (this.existing ??= withSlack(COMPARE_WINDOW))];
    if (early?.buf) bufs.push(early.buf);
    while (bufs.length < 2 + READ_BACK_EXTRA) bufs.push(withSlack(STAGE_BYTES));
    const readBack = early?.hash ?? createHash('sha256');
    const from = expect ? 0 : this.start;
    const end = this.position;
    const read = async (at: number, buf: Buffer, length: number): Promise<{ view: Buffer; n: number }> => {
      const got = await direct?.read(buf, length, at);
      if (got) return (this.readBack.direct += got.n), got;
      await (dropped ??= flushBlockDeviceBuffers(this.path).catch(() => undefined));
      const n = await readAll(fh, buf, length, at);
      return (this.readBack.cached += n), { view: buf, n };
    };
    // reads in the order they are hashed; the buffers in turn (a buffer is read into again once it was hashed)
    const pending: { at: number; length: number; read: Promise<{ view: Buffer; n: number }> }[] = [];
    let issueAt = early?.at ?? from;
    let turn = 0;
    const issue = (): void => {
      const buf = bufs[turn]!;
      turn = (turn + 1) % bufs.length;
      // a read that starts off the alignment (a resumed writer without `expect`) ends on it: the next can be direct
      const length = Math.min(buf.length - (issueAt % STAGE_BYTES), end - issueAt);
      const r = read(issueAt, buf, length);
      r.catch(() => undefined); // thrown when its turn to be hashed comes
      pending.push({ at: issueAt, length, read: r });
      issueAt += length;
    };
    try {
      while (issueAt < end && pending.length < bufs.length) issue();
      for (let p = pending.shift(); p; p = pending.shift()) {
        const { view, n } = await p.read;
        if (n < p.length) throw new FotaError('integrity-mismatch', `slot ${this.path} ends at byte ${p.at + n}, before the ${end} bytes written`);
        readBack.update(view.subarray(0, n));
        if (issueAt < end) issue();
      }
    } finally {
      await Promise.all(pending.map((p) => p.read.catch(() => undefined)));
      await direct?.close();
    }
    const got = readBack.digest('hex');
    if (expect) {
      const want = expect.sha256.toLowerCase();
      // nobody hashed the bytes on their way in (checksImage): a corrupt package and a failing medium look alike here
      if (got !== want)
        throw new FotaError(
          'integrity-mismatch',
          `payload SHA-256 mismatch: the signed manifest says ${want}, bytes ${from}-${end} of slot ${this.path}, read back, hash to ${got}: the package is corrupt (rebuild or re-upload it), or, if a package known to be good fails the same way, the slot's medium does not keep what is written`,
        );
    } else {
      const wrote = this.hash?.digest('hex');
      if (got !== wrote)
        throw new FotaError('integrity-mismatch', `slot ${this.path} does not hold what was written to it (bytes ${from}-${end}: read back ${got}, wrote ${wrote}); the medium may be failing`);
    }
  }

  async abort(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    // a sync()'s flush or a read ahead still running ends before the handle is closed, as finish() waits for them
    await this.flushing?.catch(() => undefined);
    await this.takeAhead(-1);
    await (await this.takeEarly())?.direct?.close();
    this.stage = undefined;
    this.existing = undefined;
    this.staged = 0;
    await fh?.close().catch(() => undefined);
  }

  private open(): FileHandle {
    if (!this.fh) throw new FotaError('io-error', `slot ${this.path} is already closed (finish or abort was called)`);
    return this.fh;
  }
}

async function writeAll(fh: FileHandle, buf: Buffer, from: number, length: number, position: number): Promise<void> {
  for (let done = 0; done < length; ) done += (await fh.write(buf, from + done, length - done, position + done)).bytesWritten;
}

/** `blockdev --flushbufs` (BLKFLSBUF): writes back and drops the device's cached pages, so reads reach the medium. */
export function flushBlockDeviceBuffers(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('blockdev', ['--flushbufs', path], { timeout: 30_000 }, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Opens `path` for writing at `offset` without truncating it (a partition or a preallocated slot file).
 * `capacity` bounds every write (FotaError 'no-space' past it).
 */
export async function openSlotWriter(path: string, offset: number, capacity: number, opts: SlotWriterOptions = {}): Promise<BlockSlotWriter> {
  try {
    const fh = await open(path, 'r+');
    const blockDevice = opts.blockDevice ?? (await fh.stat()).isBlockDevice();
    return new BlockSlotWriter(fh, path, offset, capacity, { ...opts, blockDevice });
  } catch (e) {
    throw toFotaError(e);
  }
}

/** Reads the first `length` bytes of `path` in chunks (fewer when the slot is shorter). Throws FotaError. */
export async function* readSlot(path: string, length: number): AsyncIterable<Uint8Array> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw toFotaError(e);
  }
  try {
    let at = 0;
    while (at < length) {
      const buf = new Uint8Array(Math.min(READ_CHUNK, length - at));
      const { bytesRead } = await fh.read(buf, 0, buf.length, at).catch((e: unknown) => {
        throw toFotaError(e);
      });
      if (bytesRead === 0) return;
      at += bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}
