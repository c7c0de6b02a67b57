// A U-Boot board for tests: the environment stored where fw_env.config says (read and written with the real
// fw_printenv/fw_setenv), U-Boot's power-on sequence (CONFIG_BOOTCOUNT_LIMIT + CONFIG_BOOTCOUNT_ENV when enabled:
// common/bootcount.c, drivers/bootcount/bootcount_env.c), then the boot script or bootcmd run by the hush
// interpreter. The three conventions' boot logic is written here as each project documents it (fota's is the shipped
// platform/uboot/boot-scripts/fota-boot.cmd).
import { readFileSync } from 'node:fs';
import type { BootEnv } from '../../platform/uboot/boot-env.js';
import { Booted, Hush, Reset } from './uboot-hush.js';

export interface PowerOnOptions {
  env: BootEnv;
  /** CONFIG_BOOTCOUNT_LIMIT with CONFIG_BOOTCOUNT_ENV (Mender relies on it) */
  bootcountLimit: boolean;
  /** the script distro_bootcmd sources (boot.scr); without it U-Boot runs bootcmd (or altbootcmd) */
  script?: string;
  /** `load mmc 0:N …` and friends: whether the load works (a slot with no kernel fails) */
  load(argv: string[]): boolean;
}

export type PowerOnResult = { kind: 'booted'; bootargs: string; command: string[]; log: string[] } | { kind: 'reset' | 'halted'; log: string[] };

/** One power-on. Every saveenv is written through `env` in order, each as the change from the previous state. */
export async function powerOn(o: PowerOnOptions): Promise<PowerOnResult> {
  const stored = await o.env.read();
  const env = new Map(Object.entries(stored));
  const saves: Map<string, string>[] = [];
  const hush = new Hush(env, { saveenv: (e) => saves.push(new Map(e)), load: o.load });
  let result: PowerOnResult = { kind: 'halted', log: hush.log };
  try {
    let command = o.script ?? env.get('bootcmd') ?? '';
    if (o.bootcountLimit) {
      // bootcount_load: the env's bootcount only while upgrade_available (bootcount_env.c)
      const upgrade = Number(/^\d+/.exec(env.get('upgrade_available') ?? '')?.[0] ?? 0) !== 0;
      const bootcount = (upgrade ? Number(/^\d+/.exec(env.get('bootcount') ?? '')?.[0] ?? 0) : 0) + 1;
      env.set('bootcount', String(bootcount)); // env_set_ulong: decimal
      if (upgrade) saves.push(new Map(env)); // bootcount_store saves only during an upgrade
      const bootlimit = Number(/^\d+/.exec(env.get('bootlimit') ?? '')?.[0] ?? 0);
      // autoboot.c: "Warning: Bootlimit (%u) exceeded. Using altbootcmd."
      if (bootlimit && bootcount > bootlimit) command = env.get('altbootcmd') ?? command;
    }
    hush.run(command);
  } catch (e) {
    if (e instanceof Booted) result = { kind: 'booted', bootargs: e.bootargs, command: e.command, log: hush.log };
    else if (e instanceof Reset) result = { kind: 'reset', log: hush.log };
    else throw e;
  }
  let previous = stored;
  for (const save of saves) {
    const next = Object.fromEntries(save);
    const change: Record<string, string | null> = {};
    for (const [k, v] of Object.entries(next)) if (previous[k] !== v) change[k] = v;
    for (const k of Object.keys(previous)) if (!(k in next)) change[k] = null;
    if (Object.keys(change).length > 0) await o.env.write(change);
    previous = next;
  }
  return result;
}

/** fota's own boot script, as shipped. */
export const FOTA_BOOT_SCRIPT = readFileSync(new URL('../../platform/uboot/boot-scripts/fota-boot.cmd', import.meta.url), 'utf8');

/** fota's environment defaults (docs/platforms.md) plus what a board's script reads. */
export const FOTA_BOARD_ENV: Record<string, string> = {
  console: 'ttyS0',
  kernel_addr_r: '0x40400000',
  fdt_addr_r: '0x4fa00000',
  fdtfile: 'board.dtb',
};

/**
 * Mender's U-Boot integration as meta-mender documents it (env_mender.h): mender_setup saves the canary once and
 * derives the root device from mender_boot_part; altbootcmd (run by U-Boot past bootlimit) swaps mender_boot_part,
 * ends the upgrade and boots the other partition; bootcmd boots, and resets during an upgrade when booting fails.
 * `rootBase` + the partition number is the kernel's root device (a folder in tests, /dev/mmcblk0p on a board).
 */
export function menderEnv(rootBase: string, parts = { A: 2, B: 3 }): Record<string, string> {
  return {
    bootlimit: '1',
    bootcount: '0',
    upgrade_available: '0',
    mender_boot_part: String(parts.A),
    mender_boot_part_hex: parts.A.toString(16),
    mender_check_saveenv_canary: '1',
    mender_setup: `if test "\${mender_saveenv_canary}" != "1"; then setenv mender_saveenv_canary 1; saveenv; fi; setenv mender_kernel_root ${rootBase}\${mender_boot_part}; setenv mender_uboot_root mmc 0:\${mender_boot_part_hex}`,
    mender_altbootcmd: `if test \${mender_boot_part} = ${parts.A}; then setenv mender_boot_part ${parts.B}; setenv mender_boot_part_hex ${parts.B.toString(16)}; else setenv mender_boot_part ${parts.A}; setenv mender_boot_part_hex ${parts.A.toString(16)}; fi; setenv upgrade_available 0; saveenv; run mender_setup`,
    mender_try_to_recover: 'if test ${upgrade_available} = 1; then reset; fi',
    altbootcmd: 'run mender_altbootcmd; run bootcmd',
    bootcmd: 'run mender_setup; setenv bootargs root=${mender_kernel_root} console=${console}; load ${mender_uboot_root} ${kernel_addr_r} /boot/zImage; bootz ${kernel_addr_r}; run mender_try_to_recover',
    console: 'ttyS0',
    kernel_addr_r: '0x40400000',
  };
}

/**
 * RAUC's U-Boot slot selection as its documentation describes it: slots in BOOT_ORDER, the first with attempts
 * left (BOOT_<slot>_LEFT, decremented before it boots) is booted and named to the kernel as rauc.slot=; when none
 * has attempts left, all get 3 again and the board resets.
 */
export const RAUC_BOOT_SCRIPT = `
test -n "\${BOOT_ORDER}" || setenv BOOT_ORDER "A B"
test -n "\${BOOT_A_LEFT}" || setenv BOOT_A_LEFT 3
test -n "\${BOOT_B_LEFT}" || setenv BOOT_B_LEFT 3
setenv rauc_slot
for slot in "\${BOOT_ORDER}"; do
  if test -n "\${rauc_slot}"; then
    # a slot was chosen already
  elif test "\${slot}" = "A" && test 0x\${BOOT_A_LEFT} -gt 0; then
    setexpr BOOT_A_LEFT \${BOOT_A_LEFT} - 1
    setenv rauc_slot A
    setenv rauc_part 2
  elif test "\${slot}" = "B" && test 0x\${BOOT_B_LEFT} -gt 0; then
    setexpr BOOT_B_LEFT \${BOOT_B_LEFT} - 1
    setenv rauc_slot B
    setenv rauc_part 3
  fi
done
if test -z "\${rauc_slot}"; then
  echo "no slot has attempts left; all get 3 again"
  setenv BOOT_A_LEFT 3
  setenv BOOT_B_LEFT 3
  saveenv
  reset
fi
saveenv
setenv bootargs "console=\${console} root=/dev/mmcblk0p\${rauc_part} rootwait rauc.slot=\${rauc_slot}"
load mmc 0:\${rauc_part} \${kernel_addr_r} /boot/zImage
bootz \${kernel_addr_r}
reset
`;

/** Partition numbers of a load command's "mmc 0:N" (hex, as U-Boot reads it), or undefined. */
export function loadPartition(argv: string[]): number | undefined {
  const dev = argv.find((a) => /^\d+:[0-9a-f]+$/i.test(a));
  return dev ? parseInt(dev.split(':')[1]!, 16) : undefined;
}
