// Raw access to a slot (a partition or, in tests and the simulator, a file): a positional SlotWriter that never
// truncates, fdatasync for durability, and a chunked reader. Errors are FotaError ('no-space', 'io-error').

import { open, type FileHandle } from 'node:fs/promises';
import { FotaError, toFotaError } from '../../agent/core/errors.js';
import type { SlotWriter } from '../../agent/core/ports.js';

const READ_CHUNK = 256 * 1024;

/**
 * Bytes are gathered into one reused 512 KiB buffer and written with one positional write when it is full (or on
 * sync/finish): a write per 64 KiB network chunk costs ~4x the CPU of the same bytes in big writes
 * (docs/benchmarks.md), and reusing the buffer allocates nothing per chunk. 512 KiB rather than 1 MiB: the same CPU,
 * 0.5 MiB less resident memory.
 */
const STAGE_BYTES = 512 * 1024;

class FileSlotWriter implements SlotWriter {
  private fh: FileHandle | undefined;
  /** file offset of the first staged byte */
  private flushed: number;
  private stage: Buffer | undefined;
  private staged = 0;
  private closing: Promise<void> | undefined;

  constructor(
    fh: FileHandle,
    private readonly path: string,
    offset: number,
    private readonly capacity: number,
  ) {
    this.fh = fh;
    this.flushed = offset;
  }

  get position(): number {
    return this.flushed + this.staged;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.open();
    if (this.position + chunk.length > this.capacity)
      throw new FotaError('no-space', `the image does not fit slot ${this.path}: ${this.position + chunk.length} bytes needed, ${this.capacity} available`);
    const stage = (this.stage ??= Buffer.allocUnsafe(STAGE_BYTES));
    let taken = 0;
    while (taken < chunk.length) {
      const n = Math.min(chunk.length - taken, STAGE_BYTES - this.staged);
      stage.set(chunk.subarray(taken, taken + n), this.staged);
      this.staged += n;
      taken += n;
      if (this.staged === STAGE_BYTES) await this.flush();
    }
  }

  /** Writes the staged bytes at their offset. */
  private async flush(): Promise<void> {
    const fh = this.open();
    const stage = this.stage;
    if (!stage || this.staged === 0) return;
    let done = 0;
    try {
      while (done < this.staged) done += (await fh.write(stage, done, this.staged - done, this.flushed + done)).bytesWritten;
    } catch (e) {
      throw toFotaError(e);
    }
    this.flushed += this.staged;
    this.staged = 0;
  }

  async sync(): Promise<void> {
    await this.flush();
    try {
      await this.open().datasync();
    } catch (e) {
      throw toFotaError(e);
    }
  }

  finish(): Promise<void> {
    this.closing ??= (async () => {
      const fh = this.fh;
      if (!fh) return;
      try {
        await this.flush();
        await fh.datasync();
      } catch (e) {
        this.closing = undefined; // not closed: let the caller retry or abort
        throw toFotaError(e);
      }
      this.fh = undefined;
      this.stage = undefined;
      await fh.close().catch(() => undefined);
    })();
    return this.closing;
  }

  async abort(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    this.stage = undefined;
    this.staged = 0;
    await fh?.close().catch(() => undefined);
  }

  private open(): FileHandle {
    if (!this.fh) throw new FotaError('io-error', `slot ${this.path} is already closed (finish or abort was called)`);
    return this.fh;
  }
}

/**
 * Opens `path` for writing at `offset` without truncating it (a partition or a preallocated slot file).
 * `capacity` bounds every write (FotaError 'no-space' past it).
 */
export async function openSlotWriter(path: string, offset: number, capacity: number): Promise<SlotWriter> {
  try {
    const fh = await open(path, 'r+');
    return new FileSlotWriter(fh, path, offset, capacity);
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
