// fota's own A/B convention in one place (U-Boot and GRUB): the environment variables, what the boot script does with
// them (U-Boot CONFIG_BOOTCOUNT_LIMIT + CONFIG_BOOTCOUNT_ENV semantics, docs/platforms.md has the boot.cmd), and the
// changes each platform verb makes. Pure: no IO, so the simulated bootloader and the unit tests share it.
// The variable names are stable: the virtual board's real U-Boot runs a boot script that reads them.

import { needed, ulong, type BootConvention, type Plan } from './convention.js';

export type Slot = 'A' | 'B';

export const other = (s: Slot): Slot => (s === 'A' ? 'B' : 'A');

/** Attempts a trial gets before the bootloader falls back (the env's bootlimit; U-Boot convention). */
export const DEFAULT_BOOTLIMIT = 3;

/** What altbootcmd does: swap boot_part back, end the trial. The boot script runs it when bootcount > bootlimit. */
export const ALTBOOTCMD = 'if test "${boot_part}" = "B"; then setenv boot_part A; else setenv boot_part B; fi; setenv upgrade_available 0; setenv bootcount 0';

/** The environment a fresh device starts with: slot A, committed. */
export function initialEnv(bootlimit = DEFAULT_BOOTLIMIT): Record<string, string> {
  return { boot_part: 'A', upgrade_available: '0', bootcount: '0', bootlimit: String(bootlimit), altbootcmd: ALTBOOTCMD };
}

export interface SchemeView {
  /** the slot the bootloader will load (anything but "B" means A, as the script's `test` does) */
  bootPart: Slot;
  upgradeAvailable: boolean;
  bootcount: number;
  /** bootlimit, DEFAULT_BOOTLIMIT when unset (the boot script sets that default) */
  bootlimit: number;
}

export function view(vars: Record<string, string>): SchemeView {
  const limit = vars['bootlimit'];
  return {
    bootPart: vars['boot_part'] === 'B' ? 'B' : 'A',
    upgradeAvailable: vars['upgrade_available'] === '1',
    bootcount: ulong(vars['bootcount']),
    bootlimit: limit === undefined || limit === '' ? DEFAULT_BOOTLIMIT : ulong(limit),
  };
}

export interface BootDecision {
  /** the slot the bootloader loads */
  slot: Slot;
  /** this boot is an uncommitted trial (upgrade_available is still 1 after the script) */
  trial: boolean;
  /** bootcount after the script (the trial attempt number during a trial) */
  bootcount: number;
  bootlimit: number;
  /** altbootcmd ran: the trial slot used up its attempts and the other slot boots */
  fellBack: boolean;
  /** what saveenv stores (null: nothing is saved, as on a normal boot or with a bad CRC) */
  save: Record<string, string> | null;
}

/**
 * One pass of the boot script over the stored environment (`undefined` = bad CRC: U-Boot uses its built-in
 * defaults, boots A and saves nothing):
 *   if upgrade_available=1: bootcount += 1, saveenv; if bootcount > bootlimit: run altbootcmd, saveenv
 *   boot boot_part
 */
export function runBootScript(vars: Record<string, string> | undefined): BootDecision {
  if (vars === undefined) return { slot: 'A', trial: false, bootcount: 0, bootlimit: DEFAULT_BOOTLIMIT, fellBack: false, save: null };
  const v = view(vars);
  if (!v.upgradeAvailable) return { slot: v.bootPart, trial: false, bootcount: v.bootcount, bootlimit: v.bootlimit, fellBack: false, save: null };
  const count = v.bootcount + 1;
  if (count > v.bootlimit) {
    const slot = other(v.bootPart);
    return { slot, trial: false, bootcount: 0, bootlimit: v.bootlimit, fellBack: true, save: { boot_part: slot, upgrade_available: '0', bootcount: '0' } };
  }
  return { slot: v.bootPart, trial: true, bootcount: count, bootlimit: v.bootlimit, fellBack: false, save: { bootcount: String(count) } };
}

/** Trial/pending as the agent sees them, given the environment and the slot the running system came from. */
export function bootState(vars: Record<string, string>, booted: Slot): { trial: boolean; pending: Slot | null } {
  const v = view(vars);
  return {
    trial: v.upgradeAvailable && v.bootPart === booted,
    pending: v.upgradeAvailable && v.bootPart !== booted ? v.bootPart : null,
  };
}

export type { Plan } from './convention.js';

/**
 * Arms the other slot for the next boot: boot_part=<other>, upgrade_available=1, bootcount=0 (plus bootlimit when
 * `bootlimit` is given and differs, or when the env has no usable one, so a trial can never run unbounded).
 * Refused during a trial: the inactive slot is then the fallback.
 */
export function planActivate(vars: Record<string, string>, booted: Slot, bootlimit?: number): Plan {
  const { trial, pending } = bootState(vars, booted);
  if (trial) return { ok: false, why: `slot ${booted} is running an uncommitted trial; commit or revert it before arming slot ${other(booted)}` };
  const want: Record<string, string> = { boot_part: other(booted), upgrade_available: '1', bootcount: '0' };
  const current = view(vars).bootlimit;
  if (bootlimit !== undefined && bootlimit !== current) want['bootlimit'] = String(bootlimit);
  else if (current < 1) want['bootlimit'] = String(DEFAULT_BOOTLIMIT);
  // already armed and not yet counted: writing again would change nothing
  if (pending === other(booted) && vars['bootcount'] === '0' && want['bootlimit'] === undefined) return { ok: true, write: null };
  return { ok: true, write: want };
}

/** Makes the booted slot the default and ends the trial. Refused while the other slot is armed (it would be cancelled). */
export function planCommit(vars: Record<string, string>, booted: Slot): Plan {
  const { pending } = bootState(vars, booted);
  if (pending !== null) return { ok: false, why: `slot ${pending} is armed for a trial boot; committing slot ${booted} now would cancel it` };
  return { ok: true, write: needed(vars, { upgrade_available: '0', bootcount: '0', boot_part: booted }) };
}

/**
 * Gives up the trial. During a trial: bootcount=bootlimit, so the next boot's increment exceeds the limit and
 * altbootcmd (the bootloader's own fallback path) switches back. With an armed but not yet booted slot: disarm it.
 * Otherwise there is nothing to revert.
 */
export function planRevert(vars: Record<string, string>, booted: Slot): Plan {
  const { trial, pending } = bootState(vars, booted);
  if (trial) return { ok: true, write: needed(vars, { bootcount: String(view(vars).bootlimit) }) };
  if (pending !== null) return { ok: true, write: { boot_part: booted, upgrade_available: '0', bootcount: '0' } };
  return { ok: true, write: null };
}

/** fota's own convention; `bootlimit`, when set, is written with each activation if the env differs. */
export function ownConvention(opts: { bootlimit?: number } = {}): BootConvention {
  return {
    name: 'fota',
    vars: ['boot_part', 'upgrade_available', 'bootcount', 'bootlimit'],
    trialBoots: (vars) => view(vars).bootlimit,
    bootState,
    planActivate: (vars, booted) => planActivate(vars, booted, opts.bootlimit),
    planCommit,
    planRevert,
  };
}
