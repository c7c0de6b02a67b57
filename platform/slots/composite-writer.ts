// A slot made of several partitions written back to back (a Raspberry Pi slot: its FAT boot partition, then its root
// filesystem; RAUC calls these slot groups). The image is the partitions' contents concatenated: every part but the
// last is filled whole. Each part is written by its own BlockSlotWriter (identical blocks skipped, aligned runs,
// fdatasync, read-back of what it was handed); a reader chains the parts. Errors are FotaError.

import { FotaError } from '../../agent/core/errors.js';
import type { SlotWriter } from '../../agent/core/ports.js';
import { readSlot, type BlockSlotWriter, type SlotWriteStats } from './slot-writer.js';

export interface Part {
  path: string;
  size: number;
}

/** Which part holds absolute byte `at`, and where in it. */
function locate(parts: readonly Part[], at: number): { index: number; offset: number } {
  let base = 0;
  for (let index = 0; index < parts.length; index++) {
    const size = parts[index]!.size;
    if (at < base + size || index === parts.length - 1) return { index, offset: at - base };
    base += size;
  }
  return { index: 0, offset: at };
}

/**
 * INVARIANTS (one caller, calls in sequence, as the port says)
 * - writers[i] exists once byte (start of part i) or later was reached; parts before the current one are finished.
 * - `position` is the sum of the finished parts' sizes plus the current writer's position within its part.
 */
export class CompositeSlotWriter implements SlotWriter {
  private current: { index: number; writer: BlockSlotWriter } | undefined;
  private readonly finished: BlockSlotWriter[] = [];
  private closed = false;

  constructor(
    private readonly parts: readonly Part[],
    private readonly open: (index: number, offset: number) => Promise<BlockSlotWriter>,
    private at: number,
  ) {}

  get position(): number {
    return this.at;
  }

  /** What each part's writer did so far (tests, benchmarks). */
  get stats(): SlotWriteStats[] {
    return [...this.finished, ...(this.current ? [this.current.writer] : [])].map((w) => ({ ...w.stats }));
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.closed) throw new FotaError('io-error', 'the slot is already closed (finish or abort was called)');
    let taken = 0;
    while (taken < chunk.length) {
      const { index, offset } = locate(this.parts, this.at);
      const writer = await this.writerFor(index, offset);
      const room = index === this.parts.length - 1 ? chunk.length - taken : this.parts[index]!.size - offset;
      const n = Math.min(room, chunk.length - taken);
      await writer.write(chunk.subarray(taken, taken + n));
      taken += n;
      this.at += n;
    }
  }

  private async writerFor(index: number, offset: number): Promise<BlockSlotWriter> {
    if (this.current?.index === index) return this.current.writer;
    if (this.current) {
      // a part is complete: make it durable and check it before moving on
      await this.current.writer.finish();
      this.finished.push(this.current.writer);
    }
    this.current = { index, writer: await this.open(index, offset) };
    return this.current.writer;
  }

  async sync(): Promise<void> {
    await this.current?.writer.sync();
  }

  async finish(): Promise<void> {
    if (this.closed) return;
    await this.current?.writer.finish();
    this.closed = true;
  }

  async abort(): Promise<void> {
    this.closed = true;
    await this.current?.writer.abort();
  }
}

/** The first `length` bytes of the parts, chained. */
export async function* readParts(parts: readonly Part[], length: number): AsyncIterable<Uint8Array> {
  let left = length;
  for (const part of parts) {
    if (left <= 0) return;
    const n = Math.min(left, part.size);
    let got = 0;
    for await (const c of readSlot(part.path, n)) {
      got += c.length;
      yield c;
    }
    left -= got;
    if (got < n) return;
  }
}
