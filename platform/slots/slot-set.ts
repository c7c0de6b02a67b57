// The two slots of a board as every backend writes them: specifications resolved to device nodes (once, at start or
// on first use), sizes, and the guards before a write — the two slots must not share a device, and the slot about
// to be written must not be what the kernel runs from (slot-in-use.ts). A slot is one device, or several written back
// to back (composite-writer.ts). Errors are FotaError.

import { FotaError } from '../../agent/core/errors.js';
import type { SlotName, SlotWriter } from '../../agent/core/ports.js';
import { PlatformConfigError } from '../config-error.js';
import { CompositeSlotWriter, readParts, type Part } from './composite-writer.js';
import { deviceSize } from './device-size.js';
import { slotInUse, type KernelViews } from './slot-in-use.js';
import { resolveSlotSpec } from './slot-spec.js';
import { openSlotWriter, readSlot, type SlotWriterOptions } from './slot-writer.js';

export interface SlotSetOptions {
  /** slot specifications (device paths or PARTLABEL=/PARTUUID=), one or several per slot, already validated */
  specs: Record<SlotName, string | readonly string[]>;
  /** where the kernel's views are read (tests) */
  views?: KernelViews;
  writer?: SlotWriterOptions;
  /** the configuration key of the specs, for error messages (default platform.options.slots) */
  key?: string;
}

const list = (s: string | readonly string[]): readonly string[] => (typeof s === 'string' ? [s] : s);

export class SlotSet {
  private resolved: Promise<Record<SlotName, string[]>> | undefined;

  constructor(private readonly opts: SlotSetOptions) {}

  get views(): KernelViews {
    return this.opts.views ?? {};
  }

  /** The device nodes of each slot, in writing order. Throws PlatformConfigError when a spec names nothing or two name one device. */
  parts(): Promise<Record<SlotName, string[]>> {
    this.resolved ??= this.resolve().catch((e: unknown) => {
      this.resolved = undefined; // a disk that appears later (USB, slow udev) is found on the next try
      throw e;
    });
    return this.resolved;
  }

  private async resolve(): Promise<Record<SlotName, string[]>> {
    const key = this.opts.key ?? 'platform.options.slots';
    const out = { A: [] as string[], B: [] as string[] };
    const seen = new Map<string, string>();
    for (const slot of ['A', 'B'] as const) {
      const specs = list(this.opts.specs[slot]);
      for (const [i, spec] of specs.entries()) {
        const where = specs.length > 1 ? `${key}.${slot}[${i}]` : `${key}.${slot}`;
        let path: string;
        try {
          path = await resolveSlotSpec(spec, this.views);
        } catch (e) {
          throw new PlatformConfigError(where, (e as Error).message);
        }
        const twice = seen.get(path);
        if (twice) throw new PlatformConfigError(key, `${twice} and ${where} both resolve to ${path}; every slot needs devices of its own`);
        seen.set(path, where);
        out[slot].push(path);
      }
    }
    return out;
  }

  /** A slot's devices as one readable name ("/dev/mmcblk0p2" or "/dev/mmcblk0p2+/dev/mmcblk0p5"). */
  async describe(slot: SlotName): Promise<string> {
    return (await this.partsOf(slot)).join('+');
  }

  async partsOf(slot: SlotName): Promise<string[]> {
    try {
      return (await this.parts())[slot];
    } catch (e) {
      throw new FotaError('io-error', (e as Error).message, { cause: e });
    }
  }

  private async sized(slot: SlotName): Promise<Part[]> {
    const out: Part[] = [];
    for (const path of await this.partsOf(slot)) {
      try {
        out.push({ path, size: await deviceSize(path) });
      } catch (e) {
        throw new FotaError('io-error', `cannot size slot ${slot} (${path}): ${(e as Error).message}`, { cause: e });
      }
    }
    return out;
  }

  async capacity(slot: SlotName): Promise<number> {
    return (await this.sized(slot)).reduce((n, p) => n + p.size, 0);
  }

  /** Why `slot` must not be written now (the kernel runs from one of its devices, or one is mounted), or undefined. */
  async inUse(slot: SlotName): Promise<string | undefined> {
    for (const path of await this.partsOf(slot)) {
      const why = await slotInUse(path, this.views);
      if (why) return why;
    }
    return undefined;
  }

  /**
   * Opens `slot` for an image of `size` bytes at `offset`, after the guards: never the device the kernel runs
   * from or a mounted one (io-error), never past its end (no-space). `sha256` (the whole image's) lets a
   * single-device slot check its read-back against it; a composite slot checks each part against what it was handed.
   */
  async open(slot: SlotName, size: number, offset: number, sha256?: string): Promise<SlotWriter> {
    if (!Number.isSafeInteger(size) || size < 0 || !Number.isSafeInteger(offset) || offset < 0 || offset > size)
      throw new FotaError('io-error', `invalid slot write: size ${size}, offset ${offset} (need 0 <= offset <= size)`);
    const busy = await this.inUse(slot);
    if (busy) throw new FotaError('io-error', `refusing to write slot ${slot}: ${busy}; the bootloader's view of the booted slot disagrees with the kernel's (check the bootedSlot option and the boot script)`);
    const parts = await this.sized(slot);
    const capacity = parts.reduce((n, p) => n + p.size, 0);
    if (size > capacity) throw new FotaError('no-space', `the image (${size} bytes) does not fit slot ${slot} (${capacity} bytes)`);
    if (parts.length === 1) return openSlotWriter(parts[0]!.path, offset, capacity, { ...this.opts.writer, ...(sha256 ? { expect: { sha256, size } } : {}) });
    return new CompositeSlotWriter(parts, (i, at) => openSlotWriter(parts[i]!.path, at, parts[i]!.size, this.opts.writer), offset);
  }

  async *read(slot: SlotName, length: number): AsyncIterable<Uint8Array> {
    const parts = await this.sized(slot);
    if (parts.length === 1) yield* readSlot(parts[0]!.path, length);
    else yield* readParts(parts, length);
  }
}
