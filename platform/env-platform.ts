// EnvPlatform: the PlatformAdapter for bootloaders driven by an environment of variables — U-Boot (fw_setenv or
// native) and GRUB (grubenv) — under one of the boot conventions (uboot/convention.ts). Every verb reads the
// environment and the booted slot afresh, so it is idempotent across power cuts; every change is ONE environment
// write. Before a slot is written the environment must prove writable (a harmless write read back, as the Mender
// client probes before its writes), and the slot must not be what the kernel runs from. Errors are FotaError.

import { randomBytes } from 'node:crypto';
import { FotaError, toFotaError, type ErrorCode } from '../agent/core/errors.js';
import { otherSlot, type BootStatus, type PlatformAdapter, type PlatformDescription, type SlotName, type SlotWriter } from '../agent/core/ports.js';
import { PlatformConfigError, type BoardCheck } from './config-error.js';
import type { FactoryImage } from './factory-image.js';
import type { BootedSlotSource } from './slots/booted-slot.js';
import type { SlotSet } from './slots/slot-set.js';
import { BootEnvError, type BootEnv } from './uboot/boot-env.js';
import type { BootConvention, Plan } from './uboot/convention.js';

/** The harmless variable written (a fresh value each time) and read back before a slot is written. */
export const ENV_PROBE_VAR = 'fota_env_probe';

export interface EnvPlatformOptions {
  /** adapter name (default "uboot") */
  name?: string;
  /** how messages name the environment (default "the U-Boot environment") */
  envLabel?: string;
  env: BootEnv;
  /** the convention, or a function building it once the slots are known (Mender's partition numbers) */
  convention: BootConvention | (() => Promise<BootConvention>);
  slots: SlotSet;
  /** which slot the running system came from */
  bootedSlot: BootedSlotSource;
  /** firmware version of the running system ("" when unknown); errors are treated as unknown */
  firmwareVersion: (booted: SlotName) => Promise<string>;
  /** firmware version of the image in any slot, when the platform can read it (the simulator's image header) */
  slotVersion?: (slot: SlotName) => Promise<string>;
  /** requests the reboot; resolves once requested */
  reboot: (reason: string) => Promise<void>;
  factoryImage?: () => Promise<FactoryImage | undefined>;
  /** write and read back ENV_PROBE_VAR before writing a slot (default true) */
  proveEnvWritable?: boolean;
}

export class EnvPlatform implements PlatformAdapter, BoardCheck {
  readonly name: string;
  private readonly envLabel: string;
  private conventionP: Promise<BootConvention> | undefined;

  constructor(private readonly opts: EnvPlatformOptions) {
    this.name = opts.name ?? 'uboot';
    this.envLabel = opts.envLabel ?? 'the U-Boot environment';
  }

  async bootStatus(): Promise<BootStatus> {
    const booted = await this.booted();
    const vars = await this.env('io-error');
    const { trial, pending } = (await this.convention()).bootState(vars, booted);
    const firmwareVersion = await this.opts.firmwareVersion(booted).catch(() => '');
    return { booted, trial, pending, firmwareVersion };
  }

  async inactiveSlotCapacity(): Promise<number> {
    return this.opts.slots.capacity(otherSlot(await this.booted()));
  }

  async openInactiveSlot(opts: { size: number; offset?: number; sha256?: string }): Promise<SlotWriter> {
    const booted = await this.booted();
    const inactive = otherSlot(booted);
    const { trial, pending } = (await this.convention()).bootState(await this.env('io-error'), booted);
    if (pending === inactive) throw new FotaError('io-error', `slot ${inactive} is armed for a trial boot; it cannot be rewritten until that boot happened or was reverted`);
    if (trial) throw new FotaError('io-error', `slot ${booted} is running an uncommitted trial and slot ${inactive} is its fallback; commit or revert before writing it`);
    if (this.opts.proveEnvWritable !== false) await this.proveEnvWritable();
    return this.opts.slots.open(inactive, opts.size, opts.offset ?? 0, opts.sha256);
  }

  async *readInactiveSlot(length: number): AsyncIterable<Uint8Array> {
    yield* this.opts.slots.read(otherSlot(await this.booted()), length);
  }

  async activateInactiveSlot(): Promise<void> {
    const booted = await this.booted();
    const c = await this.convention();
    await this.apply(c.planActivate(await this.env('activation-failed'), booted), 'activation-failed', `could not arm slot ${otherSlot(booted)}`);
  }

  async commitBootedSlot(): Promise<void> {
    const booted = await this.booted();
    const c = await this.convention();
    await this.apply(c.planCommit(await this.env('commit-failed'), booted), 'commit-failed', `could not commit slot ${booted}`);
  }

  async revertTrial(): Promise<void> {
    const booted = await this.booted();
    const c = await this.convention();
    await this.apply(c.planRevert(await this.env('io-error'), booted), 'io-error', `could not revert the trial of slot ${booted}`);
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
    for (const k of (await this.convention()).vars) if (vars[k] !== undefined) bootloader[k] = vars[k]!;
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

  /**
   * At start: the slots resolve, the environment reads and suits the convention, the kernel's booted slot is known and
   * the slot fota would write is not in use; then the convention's start bookkeeping (RAUC: mark good).
   */
  async checkBoard(opts: { settle: boolean } = { settle: true }): Promise<string[]> {
    const notes: string[] = [];
    await this.opts.slots.parts();
    const convention = await this.convention().catch((e: unknown) => {
      throw e instanceof PlatformConfigError ? e : new PlatformConfigError('platform.options', (e as Error).message);
    });
    let vars: Record<string, string>;
    try {
      vars = await this.opts.env.read();
    } catch (e) {
      // a corrupted environment is the device's state, not its configuration: the verbs report it
      if (e instanceof BootEnvError && e.reason === 'bad-crc') return [...notes, `${this.envLabel} is corrupted: ${e.message}`];
      if (e instanceof PlatformConfigError) throw e;
      throw new PlatformConfigError('platform.options', `cannot read ${this.envLabel}: ${(e as Error).message}`);
    }
    const problem = convention.problem?.(vars);
    if (problem) throw new PlatformConfigError('platform.options.convention', problem);
    const booted = await this.opts.bootedSlot().catch((e: unknown) => {
      throw new PlatformConfigError('platform.options.bootedSlot', (e as Error).message);
    });
    const busy = await this.opts.slots.inUse(otherSlot(booted));
    if (busy) throw new PlatformConfigError('platform.options.bootedSlot', `the booted slot is ${booted}, yet the other slot ${busy}; the booted-slot source and the kernel disagree`);
    notes.push(`booted slot ${booted} (${await this.opts.slots.describe(booted)}), inactive slot ${otherSlot(booted)} (${await this.opts.slots.describe(otherSlot(booted))}), ${convention.name} convention`);
    const start = opts.settle ? convention.planStart?.(vars, booted) : undefined;
    if (start) {
      await this.apply(start, 'io-error', `could not update ${this.envLabel} at start`);
      if (start.ok && start.write) notes.push(`start bookkeeping written: ${Object.keys(start.write).join(', ')}`);
    }
    return notes;
  }

  /** Writes a fresh value of ENV_PROBE_VAR and reads it back: the environment is writable where the tools read it. */
  private async proveEnvWritable(): Promise<void> {
    const token = randomBytes(4).toString('hex');
    try {
      await this.opts.env.write({ [ENV_PROBE_VAR]: token });
      const back = (await this.opts.env.read())[ENV_PROBE_VAR];
      if (back !== token) throw new Error(`${ENV_PROBE_VAR} was written as ${token} but reads back as ${back ?? '(unset)'}`);
    } catch (e) {
      throw new FotaError('io-error', `${this.envLabel} cannot be written (${(e as Error).message}); the update could never be activated, so the slot is left alone`, { cause: e });
    }
  }

  private convention(): Promise<BootConvention> {
    const c = this.opts.convention;
    this.conventionP ??= (typeof c === 'function' ? c() : Promise.resolve(c)).catch((e: unknown) => {
      this.conventionP = undefined;
      throw e;
    });
    return this.conventionP;
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
      throw new FotaError(code, `cannot read ${this.envLabel}: ${(e as Error).message}`, { cause: e });
    }
  }

  private async apply(plan: Plan, code: ErrorCode, what: string): Promise<void> {
    if (!plan.ok) throw new FotaError(code, `${what}: ${plan.why}`);
    if (plan.write === null) return;
    try {
      await this.opts.env.write(plan.write);
    } catch (e) {
      throw new FotaError(code, `${what}: the write to ${this.envLabel} failed: ${(e as Error).message}`, { cause: e });
    }
  }
}
