// RAUC's U-Boot convention (rauc src/bootchooser.c, contrib/uboot.sh), so fota can take over a device provisioned for
// RAUC without touching its bootloader:
//   BOOT_ORDER="A B"   slots by bootname, tried in order; the first with attempts left boots
//   BOOT_x_LEFT=3      attempts left; the boot script decrements it before booting x; 0 = bad
// RAUC marks the booted slot good at every boot (rauc-mark-good.service: BOOT_x_LEFT=3), so a RAUC boot is always
// a "trial" and nothing in these variables tells an update from a normal boot. fota adds one variable the boot
// script ignores, fota_trial=<bootname>, set with the activation and cleared at the commit. Pure: no IO.

import { otherSlot, type SlotName } from '../../agent/core/ports.js';
import { needed, type BootConvention, type Plan } from './convention.js';

/** RAUC's attempt count (bootchooser.c writes "3"; the boot script's default). */
export const RAUC_DEFAULT_ATTEMPTS = 3;
export const FOTA_TRIAL_VAR = 'fota_trial';

export interface RaucOptions {
  /** RAUC bootnames of the slots (default A and B, as in rauc.slot=A) */
  bootnames?: Record<SlotName, string>;
  /** attempts a slot gets when armed or marked good (default 3) */
  attempts?: number;
}

/** atoi(): leading optional sign and digits, else 0 (RAUC reads BOOT_x_LEFT with atoi). */
const atoi = (v: string | undefined): number => Number(/^\s*([+-]?\d+)/.exec(v ?? '')?.[1] ?? 0);

export function raucConvention(opts: RaucOptions = {}): BootConvention {
  const names = opts.bootnames ?? { A: 'A', B: 'B' };
  const attempts = String(opts.attempts ?? RAUC_DEFAULT_ATTEMPTS);
  const leftVar = (slot: SlotName) => `BOOT_${names[slot]}_LEFT`;
  // the boot script's defaults for unset variables: order "A B", 3 attempts
  const order = (vars: Record<string, string>): string[] => (vars['BOOT_ORDER'] || `${names.A} ${names.B}`).split(' ').filter((n) => n !== '');
  const left = (vars: Record<string, string>, slot: SlotName): number => (vars[leftVar(slot)] ? atoi(vars[leftVar(slot)]) : RAUC_DEFAULT_ATTEMPTS);
  const slotNamed = (bootname: string | undefined): SlotName | undefined => (bootname === names.A ? 'A' : bootname === names.B ? 'B' : undefined);
  /** bootchooser.c uboot_get_primary: the first slot in BOOT_ORDER with attempts left */
  const primary = (vars: Record<string, string>): SlotName | undefined => order(vars).map(slotNamed).find((s) => s !== undefined && left(vars, s) > 0);
  /** bootchooser.c uboot_set_primary: `slot` first, the others in their order */
  const orderWithFirst = (vars: Record<string, string>, slot: SlotName): string => [names[slot], ...order(vars).filter((n) => n !== names[slot])].join(' ');
  const bootState = (vars: Record<string, string>, booted: SlotName) => {
    const armed = slotNamed(vars[FOTA_TRIAL_VAR]);
    const other = otherSlot(booted);
    return { trial: armed === booted, pending: armed === other && primary(vars) === other ? other : null };
  };

  return {
    name: 'rauc',
    vars: ['BOOT_ORDER', leftVar('A'), leftVar('B'), FOTA_TRIAL_VAR],
    trialBoots: () => Number(attempts),
    bootState,
    planActivate(vars, booted): Plan {
      const { trial } = bootState(vars, booted);
      if (trial) return { ok: false, why: `slot ${booted} is running an uncommitted trial; commit or revert it before arming slot ${otherSlot(booted)}` };
      const other = otherSlot(booted);
      return { ok: true, write: needed(vars, { BOOT_ORDER: orderWithFirst(vars, other), [leftVar(other)]: attempts, [FOTA_TRIAL_VAR]: names[other] }) };
    },
    planCommit(vars, booted): Plan {
      const { pending } = bootState(vars, booted);
      if (pending !== null) return { ok: false, why: `slot ${pending} is armed for a trial boot; committing slot ${booted} now would cancel it` };
      // RAUC's mark-good, plus the end of fota's trial marker
      return { ok: true, write: needed(vars, { BOOT_ORDER: orderWithFirst(vars, booted), [leftVar(booted)]: attempts, [FOTA_TRIAL_VAR]: null }) };
    },
    planRevert(vars, booted): Plan {
      const { trial, pending } = bootState(vars, booted);
      // RAUC's mark-bad: the boot script skips a slot with no attempts left and boots the next in BOOT_ORDER
      if (trial) return { ok: true, write: needed(vars, { [leftVar(booted)]: '0' }) };
      if (pending !== null) return { ok: true, write: { BOOT_ORDER: orderWithFirst(vars, booted), [FOTA_TRIAL_VAR]: null } };
      return { ok: true, write: null };
    },
    planStart(vars, booted): Plan {
      if (bootState(vars, booted).trial) return { ok: true, write: null };
      const want: Record<string, string | null> = { [leftVar(booted)]: attempts };
      // a trial that fell back (its slot has no attempts left): forget the marker, put the running slot first
      const armed = slotNamed(vars[FOTA_TRIAL_VAR]);
      if (armed === otherSlot(booted) && left(vars, armed) <= 0) Object.assign(want, { [FOTA_TRIAL_VAR]: null, BOOT_ORDER: orderWithFirst(vars, booted) });
      return { ok: true, write: needed(vars, want) };
    },
    problem(vars) {
      const listed = order(vars);
      for (const slot of ['A', 'B'] as const)
        if (!listed.includes(names[slot])) return `BOOT_ORDER="${vars['BOOT_ORDER']}" does not list slot ${slot}'s bootname "${names[slot]}"; set platform.options.bootnames to the names the boot script uses`;
      return undefined;
    },
  };
}
