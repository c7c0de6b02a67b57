// The two slots of a board as every backend writes them: specifications resolved to device nodes (once, at start or
// on first use), sizes, and the guards before a write — the two slots must be different devices, and the slot
// about to be written must not be what the kernel runs from (slot-in-use.ts). Errors are FotaError.

import { FotaError } from '../../agent/core/errors.js';
import type { SlotName } from '../../agent/core/ports.js';
import { PlatformConfigError } from '../config-error.js';
import { deviceSize } from './device-size.js';
import { slotInUse, type KernelViews } from './slot-in-use.js';
import { resolveSlotSpec } from './slot-spec.js';
import { openSlotWriter, readSlot, type BlockSlotWriter, type SlotWriterOptions } from './slot-writer.js';

export interface SlotSetOptions {
  /** slot specifications (device paths or PARTLABEL=/PARTUUID=), already validated */
  specs: Record<SlotName, string>;
  /** where the kernel's views are read (tests) */
  views?: KernelViews;
  writer?: SlotWriterOptions;
  /** the configuration key of the specs, for error messages (default platform.options.slots) */
  key?: string;
}

export class SlotSet {
  private resolved: Promise<Record<SlotName, string>> | undefined;

  constructor(private readonly opts: SlotSetOptions) {}

  get specs(): Record<SlotName, string> {
    return this.opts.specs;
  }

  get views(): KernelViews {
    return this.opts.views ?? {};
  }

  /** The device nodes of both slots. Throws PlatformConfigError when a spec names nothing or both name one device. */
  paths(): Promise<Record<SlotName, string>> {
    this.resolved ??= this.resolve().catch((e: unknown) => {
      this.resolved = undefined; // a disk that appears later (USB, slow udev) is found on the next try
      throw e;
    });
    return this.resolved;
  }

  private async resolve(): Promise<Record<SlotName, string>> {
    const key = this.opts.key ?? 'platform.options.slots';
    const out = {} as Record<SlotName, string>;
    for (const slot of ['A', 'B'] as const) {
      try {
        out[slot] = await resolveSlotSpec(this.opts.specs[slot], this.views);
      } catch (e) {
        throw new PlatformConfigError(`${key}.${slot}`, (e as Error).message);
      }
    }
    if (out.A === out.B) throw new PlatformConfigError(key, `slots A and B both resolve to ${out.A}; they must be different devices`);
    return out;
  }

  async path(slot: SlotName): Promise<string> {
    try {
      return (await this.paths())[slot];
    } catch (e) {
      throw new FotaError('io-error', (e as Error).message, { cause: e });
    }
  }

  async capacity(slot: SlotName): Promise<number> {
    const path = await this.path(slot);
    try {
      return await deviceSize(path);
    } catch (e) {
      throw new FotaError('io-error', `cannot size slot ${slot} (${path}): ${(e as Error).message}`, { cause: e });
    }
  }

  /** Why `slot` must not be written now (the kernel runs from it, or it is mounted), or undefined. */
  async inUse(slot: SlotName): Promise<string | undefined> {
    return slotInUse(await this.path(slot), this.views);
  }

  /**
   * Opens `slot` for an image of `size` bytes at `offset`, after the guards: never the device the kernel runs
   * from or a mounted one (io-error), never past its end (no-space).
   */
  async open(slot: SlotName, size: number, offset: number, sha256?: string): Promise<BlockSlotWriter> {
    if (!Number.isSafeInteger(size) || size < 0 || !Number.isSafeInteger(offset) || offset < 0 || offset > size)
      throw new FotaError('io-error', `invalid slot write: size ${size}, offset ${offset} (need 0 <= offset <= size)`);
    const path = await this.path(slot);
    const busy = await this.inUse(slot);
    if (busy) throw new FotaError('io-error', `refusing to write slot ${slot}: ${busy}; the bootloader's view of the booted slot disagrees with the kernel's (check the bootedSlot option and the boot script)`);
    const capacity = await this.capacity(slot);
    if (size > capacity) throw new FotaError('no-space', `the image (${size} bytes) does not fit slot ${slot} (${capacity} bytes)`);
    return openSlotWriter(path, offset, capacity, { ...this.opts.writer, ...(sha256 ? { expect: { sha256, size } } : {}) });
  }

  async *read(slot: SlotName, length: number): AsyncIterable<Uint8Array> {
    yield* readSlot(await this.path(slot), length);
  }
}
