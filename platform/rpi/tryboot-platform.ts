// TrybootPlatform: the PlatformAdapter for a Raspberry Pi 4/5/400/CM4 booted by its own firmware, A/B with tryboot.
// The firmware boots autoboot.txt's [all] partition, or once its [tryboot] partition after `reboot "0 tryboot"`, and
// says which in /proc/device-tree/chosen/bootloader/{partition,tryboot}. There is no boot counter (a counter of one):
// a trial that hangs is ended by the hardware watchdog's reset, which boots [all] again. Arming lives in the reboot
// itself, so "pending" is a small marker in the agent's state tied to this boot (boot_id): like the firmware's flag,
// it is gone after any reset. Commit rewrites autoboot.txt so [all] names the new partition. Errors are FotaError.

import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FotaError, toFotaError, type ErrorCode } from '../../agent/core/errors.js';
import { otherSlot, type BootStatus, type PlatformAdapter, type PlatformDescription, type SlotName, type SlotWriter } from '../../agent/core/ports.js';
import { PlatformConfigError, type BoardCheck } from '../config-error.js';
import type { FactoryImage } from '../factory-image.js';
import type { SlotSet } from '../slots/slot-set.js';
import { parseAutoboot, renderAutoboot, type Autoboot, type AutobootStore } from './autoboot.js';

export interface TrybootOptions {
  slots: SlotSet;
  /** the firmware's boot_partition number of each slot (its FAT boot partition) */
  bootPartitions: () => Promise<Record<SlotName, number>>;
  autoboot: AutobootStore;
  /** folder with the firmware's `partition` and `tryboot` cells (/proc/device-tree/chosen/bootloader) */
  deviceTree: string;
  /** /proc/sys/kernel/random/boot_id: changes at every boot */
  bootIdFile: string;
  /** where the armed trial is remembered (in the agent's state directory) */
  stateFile: string;
  firmwareVersion: (booted: SlotName) => Promise<string>;
  /** a normal reboot, and the one-time `reboot "0 tryboot"` */
  reboot: (reason: string) => Promise<void>;
  tryboot: (reason: string) => Promise<void>;
  /** whether a hardware watchdog must be running (checked at start) */
  watchdog: { mode: 'require' | 'warn' | 'off'; sysfs: string };
  factoryImage?: () => Promise<FactoryImage | undefined>;
}

interface Armed {
  target: SlotName;
  bootId: string;
}

/** A big-endian u32 device-tree cell, or undefined when the file is missing or short. */
async function readCell(file: string): Promise<number | undefined> {
  const b = await readFile(file).catch(() => undefined);
  return b && b.length >= 4 ? b.readUInt32BE(0) : undefined;
}

export class TrybootPlatform implements PlatformAdapter, BoardCheck {
  readonly name = 'rpi-tryboot';

  constructor(private readonly o: TrybootOptions) {}

  async bootStatus(): Promise<BootStatus> {
    const { booted, trial, pending } = await this.state();
    return { booted, trial, pending, firmwareVersion: await this.o.firmwareVersion(booted).catch(() => '') };
  }

  async inactiveSlotCapacity(): Promise<number> {
    return this.o.slots.capacity(otherSlot((await this.state()).booted));
  }

  async openInactiveSlot(opts: { size: number; offset?: number; sha256?: string }): Promise<SlotWriter> {
    const { booted, trial, pending } = await this.state();
    const inactive = otherSlot(booted);
    if (pending === inactive) throw new FotaError('io-error', `slot ${inactive} is armed for a trial boot; it cannot be rewritten until that boot happened or was reverted`);
    if (trial) throw new FotaError('io-error', `slot ${booted} is running an uncommitted trial and slot ${inactive} is its fallback; commit or revert before writing it`);
    // prove autoboot.txt can be written (a harmless rewrite of the same text) before a byte of the slot changes
    try {
      const text = await this.o.autoboot.read();
      if (text === undefined) throw new Error('it does not exist');
      await this.o.autoboot.write(text);
    } catch (e) {
      throw new FotaError('io-error', `${this.o.autoboot.where} cannot be written (${(e as Error).message}); the update could never be activated, so the slot is left alone`, { cause: e });
    }
    return this.o.slots.open(inactive, opts.size, opts.offset ?? 0, opts.sha256);
  }

  async *readInactiveSlot(length: number): AsyncIterable<Uint8Array> {
    yield* this.o.slots.read(otherSlot((await this.state()).booted), length);
  }

  async activateInactiveSlot(): Promise<void> {
    const s = await this.state('activation-failed');
    const target = otherSlot(s.booted);
    if (s.trial) throw new FotaError('activation-failed', `could not arm slot ${target}: slot ${s.booted} is running an uncommitted trial; commit or revert it first`);
    await this.ensureAutoboot(s, s.booted, 'activation-failed');
    await this.saveArmed({ target, bootId: await this.bootId() }, 'activation-failed');
  }

  async commitBootedSlot(): Promise<void> {
    const s = await this.state('commit-failed');
    if (s.pending !== null) throw new FotaError('commit-failed', `could not commit slot ${s.booted}: slot ${s.pending} is armed for a trial boot; committing now would cancel it`);
    await this.ensureAutoboot(s, s.booted, 'commit-failed');
    await this.clearArmed('commit-failed');
  }

  async revertTrial(): Promise<void> {
    // during a trial nothing needs writing: the next reset boots [all], the committed slot; before the reboot, disarm
    await this.clearArmed('io-error');
  }

  async reboot(reason: string): Promise<void> {
    const s = await this.state();
    try {
      if (s.pending !== null) await this.o.tryboot(reason);
      else await this.o.reboot(reason);
    } catch (e) {
      throw toFotaError(e);
    }
  }

  async factoryImage(): Promise<FactoryImage | undefined> {
    return this.o.factoryImage ? this.o.factoryImage() : undefined;
  }

  async describe(): Promise<PlatformDescription> {
    const ab = parseAutoboot((await this.o.autoboot.read().catch(() => undefined)) ?? '');
    const bootloader: Record<string, string> = { 'autoboot [all] boot_partition': String(ab.all ?? ''), 'autoboot [tryboot] boot_partition': String(ab.tryboot ?? '') };
    const tryboot = await readCell(join(this.o.deviceTree, 'tryboot'));
    if (tryboot !== undefined) bootloader['chosen/bootloader/tryboot'] = String(tryboot);
    const s = await this.state().catch(() => undefined);
    return { bootloader, slotVersions: s ? { [s.booted]: await this.o.firmwareVersion(s.booted).catch(() => '') } : {} };
  }

  /** Start-up check: the board boots with the Pi firmware, autoboot.txt fits the slots, a watchdog runs. */
  async checkBoard(): Promise<string[]> {
    const notes: string[] = [];
    await this.o.slots.parts();
    const parts = await this.o.bootPartitions();
    const partition = await readCell(join(this.o.deviceTree, 'partition'));
    if (partition === undefined)
      throw new PlatformConfigError('platform.name', `${this.o.deviceTree}/partition is missing: this board was not booted by the Raspberry Pi firmware (rpi-tryboot is for a Pi 4/5/400/CM4 without U-Boot; a board with U-Boot uses "uboot")`);
    if (partition !== parts.A && partition !== parts.B)
      throw new PlatformConfigError('platform.options.bootPartitions', `the firmware booted partition ${partition}, neither slot A's (${parts.A}) nor slot B's (${parts.B})`);
    let text: string | undefined;
    try {
      text = await this.o.autoboot.read();
    } catch (e) {
      throw new PlatformConfigError('platform.options.autoboot', `cannot read ${this.o.autoboot.where}: ${(e as Error).message}`);
    }
    if (text === undefined) throw new PlatformConfigError('platform.options.autoboot', `${this.o.autoboot.where} does not exist; create it (docs/platforms.md): ${JSON.stringify(renderAutoboot(parts.A, parts.B))}`);
    const ab = parseAutoboot(text);
    if (!ab.tryboot_a_b) throw new PlatformConfigError('platform.options.autoboot', `${this.o.autoboot.where} lacks tryboot_a_b=1 under [all]`);
    if (ab.all !== parts.A && ab.all !== parts.B) throw new PlatformConfigError('platform.options.autoboot', `${this.o.autoboot.where} boots partition ${ab.all ?? '(none)'}, neither slot's (${parts.A}, ${parts.B})`);
    const s = await this.state();
    const busy = await this.o.slots.inUse(otherSlot(s.booted));
    if (busy) throw new PlatformConfigError('platform.options.bootPartitions', `the firmware booted slot ${s.booted}, yet the other slot ${busy}`);
    notes.push(`booted slot ${s.booted} (partition ${partition}${s.trial ? ', trial' : ''}), inactive slot ${otherSlot(s.booted)} (${await this.o.slots.describe(otherSlot(s.booted))}), autoboot ${this.o.autoboot.where}`);
    const dog = await this.watchdogState();
    if (this.o.watchdog.mode !== 'off' && !dog.active) {
      const why = `no hardware watchdog is running (${dog.detail}): tryboot has no boot counter, so a trial that hangs would never end. Enable it (config.txt dtparam=watchdog=on; systemd RuntimeWatchdogSec=15 in /etc/systemd/system.conf), or set platform.options.watchdog to "warn"`;
      if (this.o.watchdog.mode === 'require') throw new PlatformConfigError('platform.options.watchdog', why);
      notes.push(`warning: ${why}`);
    }
    return notes;
  }

  private async watchdogState(): Promise<{ active: boolean; detail: string }> {
    const names = await readdir(this.o.watchdog.sysfs).catch(() => [] as string[]);
    if (names.length === 0) return { active: false, detail: `no watchdog in ${this.o.watchdog.sysfs}` };
    for (const n of names) {
      const state = (await readFile(join(this.o.watchdog.sysfs, n, 'state'), 'utf8').catch(() => '')).trim();
      if (state === 'active') return { active: true, detail: `${n} active` };
    }
    return { active: false, detail: `${names.join(', ')} not active` };
  }

  /** What the firmware and autoboot.txt say, plus the armed marker of this boot. */
  private async state(code: ErrorCode = 'io-error'): Promise<{ booted: SlotName; trial: boolean; pending: SlotName | null; ab: Autoboot; parts: Record<SlotName, number> }> {
    try {
      const parts = await this.o.bootPartitions();
      const partition = await readCell(join(this.o.deviceTree, 'partition'));
      const booted: SlotName | undefined = partition === parts.A ? 'A' : partition === parts.B ? 'B' : undefined;
      if (!booted) throw new Error(`the firmware booted partition ${partition ?? '(unknown)'} (${this.o.deviceTree}/partition), neither slot A's (${parts.A}) nor slot B's (${parts.B})`);
      const text = await this.o.autoboot.read();
      if (text === undefined) throw new Error(`${this.o.autoboot.where} does not exist`);
      const ab = parseAutoboot(text);
      const committed = ab.all === parts.A ? 'A' : ab.all === parts.B ? 'B' : undefined;
      const trial = (await readCell(join(this.o.deviceTree, 'tryboot'))) === 1 && booted !== committed;
      const armed = trial ? undefined : await this.armed();
      const other = otherSlot(booted);
      const pending = armed?.target === other && ab.tryboot === parts[other] ? other : null;
      return { booted, trial, pending, ab, parts };
    } catch (e) {
      throw e instanceof FotaError ? e : new FotaError(code, (e as Error).message, { cause: e });
    }
  }

  /** autoboot.txt with [all] = `committed` and [tryboot] = the other slot; rewritten only when it says otherwise. */
  private async ensureAutoboot(s: { ab: Autoboot; parts: Record<SlotName, number> }, committed: SlotName, code: ErrorCode): Promise<void> {
    const all = s.parts[committed];
    const tryboot = s.parts[otherSlot(committed)];
    if (s.ab.tryboot_a_b && s.ab.all === all && s.ab.tryboot === tryboot) return;
    try {
      await this.o.autoboot.write(renderAutoboot(all, tryboot));
    } catch (e) {
      throw new FotaError(code, `cannot write ${this.o.autoboot.where}: ${(e as Error).message}`, { cause: e });
    }
  }

  private async bootId(): Promise<string> {
    return (await readFile(this.o.bootIdFile, 'utf8').catch(() => '')).trim();
  }

  /** The armed marker, only when it was written in this boot (the firmware forgets tryboot at any reset). */
  private async armed(): Promise<Armed | undefined> {
    const raw = await readFile(this.o.stateFile, 'utf8').catch(() => undefined);
    if (raw === undefined) return undefined;
    try {
      const a = JSON.parse(raw) as Armed;
      return (a.target === 'A' || a.target === 'B') && a.bootId === (await this.bootId()) && a.bootId !== '' ? a : undefined;
    } catch {
      return undefined;
    }
  }

  private async saveArmed(a: Armed, code: ErrorCode): Promise<void> {
    const tmp = `${this.o.stateFile}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(JSON.stringify(a));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.o.stateFile);
      const dir = await open(dirname(this.o.stateFile), 'r');
      await dir.sync().finally(() => dir.close());
    } catch (e) {
      await rm(tmp, { force: true });
      throw new FotaError(code, `cannot remember the armed trial in ${this.o.stateFile}: ${(e as Error).message}`, { cause: e });
    }
  }

  private async clearArmed(code: ErrorCode): Promise<void> {
    try {
      await rm(this.o.stateFile, { force: true });
    } catch (e) {
      throw new FotaError(code, `cannot forget the armed trial in ${this.o.stateFile}: ${(e as Error).message}`, { cause: e });
    }
  }
}
