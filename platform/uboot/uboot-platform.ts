// UBootPlatform: the PlatformAdapter for U-Boot A/B boards (boot_part / upgrade_available / bootcount / bootlimit,
// see ab-scheme.ts and docs/platforms.md). Every verb reads the environment and the booted slot afresh, so it is
// idempotent across power cuts; every change is ONE environment write. Errors are FotaError.

import { realpath } from 'node:fs/promises';
import { FotaError, toFotaError, type ErrorCode } from '../../agent/core/errors.js';
import { otherSlot, type BootStatus, type PlatformAdapter, type PlatformDescription, type SlotName, type SlotWriter } from '../../agent/core/ports.js';
import { bootState, planActivate, planCommit, planRevert, type Plan } from './ab-scheme.js';
import type { BootEnv } from './boot-env.js';
import type { BootedSlotSource } from './booted-slot.js';
import { deviceSize } from './device-size.js';
import { openSlotWriter, readSlot } from './slot-device.js';

export interface FactoryImage {
  size: number;
  version: string;
  open(): AsyncIterable<Uint8Array>;
}

export interface UBootPlatformOptions {
  /** adapter name (default "uboot") */
  name?: string;
  env: BootEnv;
  /** slot devices, e.g. { A: '/dev/mmcblk0p2', B: '/dev/mmcblk0p3' } (files in tests) */
  slots: Record<SlotName, string>;
  /** which slot the running system came from */
  bootedSlot: BootedSlotSource;
  /** firmware version of the running system ("" when unknown); errors are treated as unknown */
  firmwareVersion: (booted: SlotName) => Promise<string>;
  /** firmware version of the image in any slot, when the platform can read it (the simulator's image header) */
  slotVersion?: (slot: SlotName) => Promise<string>;
  /** written with each activation when set and different from the env's bootlimit */
  bootlimit?: number;
  /** requests the reboot; resolves once requested */
  reboot: (reason: string) => Promise<void>;
  factoryImage?: () => Promise<FactoryImage | undefined>;
}

export class UBootPlatform implements PlatformAdapter {
  readonly name: string;

  constructor(private readonly opts: UBootPlatformOptions) {
    this.name = opts.name ?? 'uboot';
  }

  async bootStatus(): Promise<BootStatus> {
    const booted = await this.booted();
    const vars = await this.env('io-error');
    const { trial, pending } = bootState(vars, booted);
    const firmwareVersion = await this.opts.firmwareVersion(booted).catch(() => '');
    return { booted, trial, pending, firmwareVersion };
  }

  async inactiveSlotCapacity(): Promise<number> {
    return this.capacity(this.opts.slots[otherSlot(await this.booted())]);
  }

  async openInactiveSlot(opts: { size: number; offset?: number }): Promise<SlotWriter> {
    const offset = opts.offset ?? 0;
    if (!Number.isSafeInteger(opts.size) || opts.size < 0 || !Number.isSafeInteger(offset) || offset < 0 || offset > opts.size)
      throw new FotaError('io-error', `invalid slot write: size ${opts.size}, offset ${offset} (need 0 <= offset <= size)`);
    const booted = await this.booted();
    const inactive = otherSlot(booted);
    const { trial, pending } = bootState(await this.env('io-error'), booted);
    if (pending === inactive) throw new FotaError('io-error', `slot ${inactive} is armed for a trial boot; it cannot be rewritten until that boot happened or was reverted`);
    if (trial) throw new FotaError('io-error', `slot ${booted} is running an uncommitted trial and slot ${inactive} is its fallback; commit or revert before writing it`);
    const path = this.opts.slots[inactive];
    const [a, b] = await Promise.all([realpath(path).catch(() => path), realpath(this.opts.slots[booted]).catch(() => this.opts.slots[booted])]);
    if (a === b) throw new FotaError('io-error', `slots A and B both resolve to ${a}; refusing to write the booted slot (check the slot paths)`);
    const capacity = await this.capacity(path);
    if (opts.size > capacity) throw new FotaError('no-space', `the image (${opts.size} bytes) does not fit slot ${inactive} (${capacity} bytes)`);
    return openSlotWriter(path, offset, capacity);
  }

  async *readInactiveSlot(length: number): AsyncIterable<Uint8Array> {
    const path = this.opts.slots[otherSlot(await this.booted())];
    yield* readSlot(path, length);
  }

  async activateInactiveSlot(): Promise<void> {
    const booted = await this.booted();
    await this.apply(planActivate(await this.env('activation-failed'), booted, this.opts.bootlimit), 'activation-failed', `could not arm slot ${otherSlot(booted)}`);
  }

  async commitBootedSlot(): Promise<void> {
    const booted = await this.booted();
    await this.apply(planCommit(await this.env('commit-failed'), booted), 'commit-failed', `could not commit slot ${booted}`);
  }

  async revertTrial(): Promise<void> {
    const booted = await this.booted();
    await this.apply(planRevert(await this.env('io-error'), booted), 'io-error', `could not revert the trial of slot ${booted}`);
  }

  async reboot(reason: string): Promise<void> {
    try {
      await this.opts.reboot(reason);
    } catch (e) {
      throw toFotaError(e);
    }
  }

  async describe(): Promise<PlatformDescription> {
    const vars = await this.env('io-error');
    const bootloader: Record<string, string> = {};
    for (const k of ['boot_part', 'upgrade_available', 'bootcount', 'bootlimit']) if (vars[k] !== undefined) bootloader[k] = vars[k]!;
    const slotVersions: PlatformDescription['slotVersions'] = {};
    const read = this.opts.slotVersion;
    if (read) for (const slot of ['A', 'B'] as const) slotVersions[slot] = await read(slot).catch(() => '');
    else {
      const booted = await this.booted().catch(() => undefined);
      if (booted) slotVersions[booted] = await this.opts.firmwareVersion(booted).catch(() => '');
    }
    return { bootloader, slotVersions };
  }

  async factoryImage(): Promise<FactoryImage | undefined> {
    return this.opts.factoryImage ? this.opts.factoryImage() : undefined;
  }

  private async booted(): Promise<SlotName> {
    try {
      return await this.opts.bootedSlot();
    } catch (e) {
      throw toFotaError(e);
    }
  }

  private async env(code: ErrorCode): Promise<Record<string, string>> {
    try {
      return await this.opts.env.read();
    } catch (e) {
      throw new FotaError(code, `cannot read the U-Boot environment: ${(e as Error).message}`, { cause: e });
    }
  }

  private async apply(plan: Plan, code: ErrorCode, what: string): Promise<void> {
    if (!plan.ok) throw new FotaError(code, `${what}: ${plan.why}`);
    if (plan.write === null) return;
    try {
      await this.opts.env.write(plan.write);
    } catch (e) {
      throw new FotaError(code, `${what}: the U-Boot environment write failed: ${(e as Error).message}`, { cause: e });
    }
  }

  private async capacity(path: string): Promise<number> {
    try {
      return await deviceSize(path);
    } catch (e) {
      throw new FotaError('io-error', `cannot size slot ${path}: ${(e as Error).message}`, { cause: e });
    }
  }
}
