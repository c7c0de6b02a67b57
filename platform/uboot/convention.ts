// A boot convention: which environment variables a bootloader's A/B logic reads, and the changes each platform verb
// makes to them. Three for U-Boot — fota's own (ab-scheme.ts), Mender's (mender.ts), RAUC's (rauc.ts) — so fota can
// take over a device provisioned for either without touching its bootloader. GRUB uses fota's own. Pure: no IO.

import type { SlotName } from '../../agent/core/ports.js';

/** A verb's plan: the variables to write in one env write (null: already in the wanted state), or a refusal. */
export type Plan = { ok: true; write: Record<string, string | null> | null } | { ok: false; why: string };

export interface BootConvention {
  /** "fota", "mender", "rauc" */
  readonly name: string;
  /** the variables of the convention, for `fota-agent status` */
  readonly vars: readonly string[];
  /** trial boots the bootloader allows before it falls back (for documentation and tests) */
  trialBoots(vars: Record<string, string>): number;
  /** trial: this boot is an uncommitted trial of `booted`; pending: a slot armed for the next boot */
  bootState(vars: Record<string, string>, booted: SlotName): { trial: boolean; pending: SlotName | null };
  /** the next boot, and only that boot sequence, tries the other slot; refused during a trial */
  planActivate(vars: Record<string, string>, booted: SlotName): Plan;
  /** the booted trial slot becomes the default; refused while the other slot is armed */
  planCommit(vars: Record<string, string>, booted: SlotName): Plan;
  /** during a trial: the next boot falls back; armed but not booted: disarm */
  planRevert(vars: Record<string, string>, booted: SlotName): Plan;
  /** bookkeeping at agent start outside a trial (RAUC: mark the booted slot good, as rauc-mark-good.service does) */
  planStart?(vars: Record<string, string>, booted: SlotName): Plan;
  /** why this environment cannot work with the convention (a configuration error), or undefined */
  problem?(vars: Record<string, string>): string | undefined;
}

/** simple_strtoul(…, 10): the leading decimal digits, 0 when there are none. */
export function ulong(v: string | undefined): number {
  const m = /^\s*(\d+)/.exec(v ?? '');
  return m ? Number(m[1]) : 0;
}

/** `want` when any of its variables differs from `vars` (null deletes: differs when set), else null. */
export function needed(vars: Record<string, string>, want: Record<string, string | null>): Record<string, string | null> | null {
  return Object.entries(want).some(([k, v]) => (v === null ? vars[k] !== undefined && vars[k] !== '' : vars[k] !== v)) ? want : null;
}
