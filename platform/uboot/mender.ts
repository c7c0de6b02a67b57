// Mender's U-Boot convention (meta-mender env_mender.h, the Mender client's fw_setenv calls), so fota can take over a
// device provisioned for Mender without touching its bootloader:
//   mender_boot_part / mender_boot_part_hex  the partition number U-Boot boots (decimal / hex, both kept in step)
//   upgrade_available=1                      a trial: U-Boot (CONFIG_BOOTCOUNT_LIMIT + CONFIG_BOOTCOUNT_ENV) counts
//   bootcount, bootlimit (Mender's default 1) past the limit U-Boot runs altbootcmd = mender_altbootcmd: swap back
//   mender_check_saveenv_canary=1            U-Boot's mender_setup saves mender_saveenv_canary=1 at its first boot;
//                                             without it fw_env.config points somewhere U-Boot does not read
// Pure: no IO.

import { otherSlot, type SlotName } from '../../agent/core/ports.js';
import { needed, ulong, type BootConvention, type Plan } from './convention.js';

/** Mender's bootlimit default (env_mender.h): one trial boot. */
export const MENDER_DEFAULT_BOOTLIMIT = 1;

export interface MenderOptions {
  /** partition numbers of the slots, as U-Boot counts them (mmc 0:N) and the kernel names them (mmcblk0pN) */
  parts: Record<SlotName, number>;
  /** written with each activation when set and different from the env's */
  bootlimit?: number;
}

export function menderConvention(opts: MenderOptions): BootConvention {
  const { parts } = opts;
  const slotOf = (vars: Record<string, string>): SlotName | undefined => {
    const n = ulong(vars['mender_boot_part']);
    return n === parts.A ? 'A' : n === parts.B ? 'B' : undefined;
  };
  const partVars = (slot: SlotName) => ({ mender_boot_part: String(parts[slot]), mender_boot_part_hex: parts[slot].toString(16) });
  const bootlimit = (vars: Record<string, string>) => ulong(vars['bootlimit']);
  const bootState = (vars: Record<string, string>, booted: SlotName) => {
    const armed = vars['upgrade_available'] === '1' ? slotOf(vars) : undefined;
    return { trial: armed === booted, pending: armed === otherSlot(booted) ? otherSlot(booted) : null };
  };

  return {
    name: 'mender',
    vars: ['mender_boot_part', 'mender_boot_part_hex', 'upgrade_available', 'bootcount', 'bootlimit', 'mender_saveenv_canary'],
    trialBoots: (vars) => bootlimit(vars) || MENDER_DEFAULT_BOOTLIMIT,
    bootState,
    planActivate(vars, booted): Plan {
      const { trial, pending } = bootState(vars, booted);
      if (trial) return { ok: false, why: `slot ${booted} is running an uncommitted trial; commit or revert it before arming slot ${otherSlot(booted)}` };
      const want: Record<string, string> = { ...partVars(otherSlot(booted)), upgrade_available: '1', bootcount: '0' };
      // U-Boot falls back only when `bootlimit && bootcount > bootlimit`: a trial with bootlimit 0 would never end
      if (opts.bootlimit !== undefined && opts.bootlimit !== bootlimit(vars)) want['bootlimit'] = String(opts.bootlimit);
      else if (bootlimit(vars) < 1) want['bootlimit'] = String(MENDER_DEFAULT_BOOTLIMIT);
      if (pending !== null && vars['bootcount'] === '0' && vars['mender_boot_part_hex'] === want['mender_boot_part_hex'] && want['bootlimit'] === undefined) return { ok: true, write: null };
      return { ok: true, write: want };
    },
    planCommit(vars, booted): Plan {
      const { pending } = bootState(vars, booted);
      if (pending !== null) return { ok: false, why: `slot ${pending} is armed for a trial boot; committing slot ${booted} now would cancel it` };
      return { ok: true, write: needed(vars, { upgrade_available: '0', bootcount: '0', ...partVars(booted) }) };
    },
    planRevert(vars, booted): Plan {
      const { trial, pending } = bootState(vars, booted);
      // the next boot's increment exceeds bootlimit: U-Boot runs altbootcmd (mender_altbootcmd), its own fallback path
      if (trial) return { ok: true, write: needed(vars, { bootcount: String(bootlimit(vars) || MENDER_DEFAULT_BOOTLIMIT) }) };
      if (pending !== null) return { ok: true, write: { ...partVars(booted), upgrade_available: '0', bootcount: '0' } };
      return { ok: true, write: null };
    },
    problem(vars) {
      if (vars['mender_check_saveenv_canary'] === '1' && vars['mender_saveenv_canary'] !== '1')
        return 'mender_check_saveenv_canary=1 but mender_saveenv_canary is not 1: U-Boot has never saved its environment where fw_env.config points (wrong offset or device), or its boot script does not run mender_setup';
      const n = ulong(vars['mender_boot_part']);
      if (vars['mender_boot_part'] !== undefined && n !== parts.A && n !== parts.B)
        return `mender_boot_part=${vars['mender_boot_part']} is neither slot A's partition (${parts.A}) nor slot B's (${parts.B}); set platform.options.partitions`;
      return undefined;
    },
  };
}
