// Where the running system came from. U-Boot tells the kernel through bootargs: either an explicit token
// (`fota.slot=${boot_part}`, the default) or the root device itself (`root=/dev/mmcblk0p3`), which is then
// mapped back to a slot. Errors are FotaError('io-error') saying what to add to the boot script.

import { readFile, realpath, stat } from 'node:fs/promises';
import { FotaError } from '../../agent/core/errors.js';
import type { SlotName } from '../../agent/core/ports.js';

/** Reads the booted slot; called on every bootStatus(). */
export type BootedSlotSource = () => Promise<SlotName>;

async function readCmdline(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new FotaError('io-error', `cannot read the kernel command line ${path}: ${(e as Error).message}`, { cause: e });
  }
}

function token(cmdline: string, key: string): string | undefined {
  for (const t of cmdline.trim().split(/\s+/)) if (t.startsWith(`${key}=`)) return t.slice(key.length + 1);
  return undefined;
}

/** `fota.slot=A|B` (key configurable) on the kernel command line at `path` (default /proc/cmdline). */
export function cmdlineSlotSource(opts: { path?: string; key?: string } = {}): BootedSlotSource {
  const path = opts.path ?? '/proc/cmdline';
  const key = opts.key ?? 'fota.slot';
  return async () => {
    const value = token(await readCmdline(path), key)?.toUpperCase();
    if (value === 'A' || value === 'B') return value;
    throw new FotaError('io-error', `${path} has no ${key}=A or ${key}=B token: add "${key}=\${boot_part}" to bootargs in the U-Boot boot script (docs/platforms.md)`);
  };
}

const resolved = (p: string) => realpath(p).catch(() => p);

/**
 * Maps the root device to a slot: when the slots are block devices, the device of the mounted `/` (st_dev) is
 * compared with each slot's st_rdev; otherwise the `root=` token of the command line is compared with the slot
 * paths (after resolving /dev symlinks).
 */
export function rootDeviceSlotSource(slots: Record<SlotName, string>, opts: { cmdline?: string; mountPoint?: string } = {}): BootedSlotSource {
  const cmdlinePath = opts.cmdline ?? '/proc/cmdline';
  const mountPoint = opts.mountPoint ?? '/';
  return async () => {
    const rootDev = await stat(mountPoint, { bigint: true }).then((s) => s.dev, () => undefined);
    for (const slot of ['A', 'B'] as const) {
      const st = await stat(slots[slot], { bigint: true }).catch(() => undefined);
      if (st?.isBlockDevice() && rootDev !== undefined && st.rdev === rootDev) return slot;
    }
    const root = token(await readCmdline(cmdlinePath), 'root');
    if (root !== undefined) {
      const rootPath = await resolved(root);
      for (const slot of ['A', 'B'] as const) {
        if (root === slots[slot] || rootPath === (await resolved(slots[slot]))) return slot;
      }
    }
    throw new FotaError(
      'io-error',
      `the root device (root=${root ?? '?'} in ${cmdlinePath}) is neither slot A (${slots.A}) nor slot B (${slots.B}); fix the slot paths or use the fota.slot= token`,
    );
  };
}
