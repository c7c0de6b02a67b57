// The inactive slot as a real file for package-reader tests: positional writes, fdatasync, and counters that prove
// what reached it (opens, bytes written, finished, aborted). Implements what installPackage needs of a slot.

import { createReadStream } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { FotaError } from '../../agent/core/errors.js';
import type { SlotWriter } from '../../agent/core/ports.js';
import type { SlotAccess } from '../../agent/adapters/package-install.js';

/** A slot backed by a file: positional writes, fdatasync, and counters to prove what reached it. */
export class FileSlot implements SlotAccess {
  opens: { size: number; offset?: number }[] = [];
  aborted = 0;
  finished = 0;
  bytesWritten = 0;
  constructor(
    readonly path: string,
    readonly size: number,
  ) {}
  static async create(path: string, size: number): Promise<FileSlot> {
    const fh = await open(path, 'w');
    await fh.truncate(size);
    await fh.close();
    return new FileSlot(path, size);
  }
  async capacity(): Promise<number> {
    return this.size;
  }
  async open(opts: { size: number; offset?: number }): Promise<SlotWriter> {
    this.opens.push(opts);
    if (opts.size > this.size) throw new FotaError('no-space', 'too big');
    const fh: FileHandle = await open(this.path, 'r+');
    let closed = false;
    let position = opts.offset ?? 0;
    const close = async (): Promise<void> => {
      if (!closed) (closed = true), await fh.close();
    };
    return {
      get position() {
        return position;
      },
      write: async (chunk) => {
        if (position + chunk.length > this.size) throw new FotaError('no-space', 'past the end of the slot');
        await fh.write(chunk, 0, chunk.length, position);
        position += chunk.length;
        this.bytesWritten += chunk.length;
      },
      sync: () => fh.datasync(),
      finish: async () => {
        if (closed) return;
        await fh.datasync();
        await close();
        this.finished++;
      },
      abort: async () => {
        this.aborted++;
        await close().catch(() => undefined);
      },
    };
  }
  async *read(length: number): AsyncIterable<Uint8Array> {
    if (length === 0) return;
    yield* createReadStream(this.path, { start: 0, end: length - 1 });
  }
  async head(length: number): Promise<Buffer> {
    return (await readFile(this.path)).subarray(0, length);
  }
}

