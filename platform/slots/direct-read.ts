// Reading a slot back past the page cache with O_DIRECT, into the slot writer's own buffers; and readAll, the
// positional read loop of both the direct and the cached reads.
//
// The read-back before an image may be activated must see the medium, not the page cache. Buffered reads after
// `blockdev --flushbufs` do, but each page read is allocated in the page cache, filled, copied out and later
// reclaimed: 1.9-2.1 CPU-s per GiB (read + SHA-256, two 512 KiB reads in flight, the unit's flags) on the loop
// device of docs/benchmarks.md, against 0.94-1.02 s with O_DIRECT, whose reads go from the device into the buffer.
// O_DIRECT wants the buffer's address, the offset and the length aligned to the device's logical block size (here:
// 512 B for the memory, DIRECT_ALIGN for offsets and lengths). JavaScript cannot see a buffer's address, so the
// writer's buffers are allocated DIRECT_ALIGN bytes longer than needed (withSlack) and the first read into each finds
// the aligned view by trying the offsets a malloc'd block can need. Where O_DIRECT is refused (a filesystem without
// it, another OS) or a read is not aligned, the caller reads through the page cache instead. The slot writer uses it
// for block devices; a file slot (the simulator) stays in the page cache, as before.

import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** Offsets and lengths of direct reads are multiples of this: the largest logical block size of common media. */
export const DIRECT_ALIGN = 4096;

/** malloc's alignment: the offsets an aligned view can need inside a buffer allocated with slack */
const MALLOC_ALIGN = 16;

/** A Buffer of `size` bytes whose memory goes on for DIRECT_ALIGN bytes more: room for an aligned view of `size`. */
export function withSlack(size: number): Buffer {
  return Buffer.allocUnsafe(size + DIRECT_ALIGN).subarray(0, size);
}

/**
 * One O_DIRECT handle on a slot. INVARIANTS: `aligned` maps a buffer's memory to the offset in it (from the buffer's
 * start) at which a direct read succeeded; after a read found no aligned offset at all, `usable` is false and every
 * read returns undefined.
 */
export class DirectReader {
  private readonly aligned = new WeakMap<ArrayBufferLike, number>();
  private usable = true;

  private constructor(private readonly fh: FileHandle) {}

  /** An O_DIRECT handle on `path`, or undefined when the system refuses one. Never throws. */
  static async open(path: string): Promise<DirectReader | undefined> {
    const direct = (constants as { O_DIRECT?: number }).O_DIRECT;
    if (direct === undefined) return undefined;
    const fh = await open(path, constants.O_RDONLY | direct).catch(() => undefined);
    return fh && new DirectReader(fh);
  }

  /**
   * Reads up to `length` bytes at `position` from the medium into an aligned view of `buf` (made with withSlack,
   * length a multiple of DIRECT_ALIGN): the view and the bytes read (fewer only at the end of the slot). Undefined
   * when this read cannot be direct (position not aligned, no aligned view, the device refused it): read it through
   * the page cache. Other errors (EIO) are thrown.
   */
  async read(buf: Buffer, length: number, position: number): Promise<{ view: Buffer; n: number } | undefined> {
    const span = Math.ceil(length / DIRECT_ALIGN) * DIRECT_ALIGN;
    if (!this.usable || position % DIRECT_ALIGN !== 0 || span > buf.length || buf.byteOffset + buf.length + DIRECT_ALIGN > buf.buffer.byteLength)
      return undefined;
    const known = this.aligned.get(buf.buffer);
    const offsets = known !== undefined ? [known] : Array.from({ length: DIRECT_ALIGN / MALLOC_ALIGN }, (_, i) => i * MALLOC_ALIGN);
    for (const at of offsets) {
      const view = Buffer.from(buf.buffer, buf.byteOffset + at, buf.length);
      const got = await this.readAll(view, span, position);
      if (got === undefined) continue;
      this.aligned.set(buf.buffer, at);
      return { view, n: Math.min(got, length) };
    }
    if (known === undefined) this.usable = false;
    return undefined;
  }

  /** The bytes read into view[0..span) (fewer at the end of the slot), or undefined on EINVAL. */
  private async readAll(view: Buffer, span: number, position: number): Promise<number | undefined> {
    try {
      return await readAll(this.fh, view, span, position);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EINVAL') return undefined;
      throw e;
    }
  }

  /** the handle's descriptor, for reads into a view an earlier read() found aligned */
  get fd(): number {
    return this.fh.fd;
  }

  close(): Promise<void> {
    return this.fh.close().catch(() => undefined);
  }
}

/** Reads up to `length` bytes at `position` into buf[0..]; fewer only at the end of the slot (or file). */
export async function readAll(fh: FileHandle, buf: Buffer, length: number, position: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}
