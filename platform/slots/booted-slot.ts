// Where the running system came from. The bootloader tells the kernel through bootargs: either an explicit token
// (`fota.slot=${boot_part}`, `rauc.slot=A`) or the root device itself (`root=/dev/mmcblk0p3`, `root=PARTUUID=…`),
// which is then mapped back to a slot. Errors are FotaError('io-error') saying what to add to the boot script.

import { readFile, stat } from 'node:fs/promises';
import { FotaError } from '../../agent/core/errors.js';
import type { SlotName } from '../../agent/core/ports.js';
import { cmdlineValue, devKey, parseMountinfo, type KernelViews } from './slot-in-use.js';
import { resolveSlotSpec } from './slot-spec.js';

/** Reads the booted slot; called on every bootStatus(). */
export type BootedSlotSource = () => Promise<SlotName>;

async function readCmdline(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new FotaError('io-error', `cannot read the kernel command line ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** `fota.slot=A|B` (key configurable, e.g. rauc.slot) on the kernel command line at `path` (default /proc/cmdline). */
export function cmdlineSlotSource(opts: { path?: string; key?: string; hint?: string } = {}): BootedSlotSource {
  const path = opts.path ?? '/proc/cmdline';
  const key = opts.key ?? 'fota.slot';
  return async () => {
    const value = cmdlineValue(await readCmdline(path), key)?.toUpperCase();
    if (value === 'A' || value === 'B') return value;
    throw new FotaError('io-error', `${path} has no ${key}=A or ${key}=B token: ${opts.hint ?? `add "${key}=\${boot_part}" to bootargs in the U-Boot boot script (docs/platforms.md)`}`);
  };
}

/**
 * Maps the root device to a slot: the device of the filesystem mounted at `/` (/proc/self/mountinfo) compared with
 * each slot's device number, else the `root=` token of the command line (a path or PARTUUID=/PARTLABEL=) compared
 * with the slot paths. `slots` resolves the slot devices (SlotSet.parts: any device of a slot counts).
 */
export function rootDeviceSlotSource(slots: () => Promise<Record<SlotName, readonly string[]>>, views: KernelViews = {}): BootedSlotSource {
  const cmdlinePath = views.cmdline ?? '/proc/cmdline';
  return async () => {
    const paths = await slots().catch((e: unknown) => {
      throw new FotaError('io-error', (e as Error).message, { cause: e });
    });
    const mounts = parseMountinfo(await readFile(views.mountinfo ?? '/proc/self/mountinfo', 'utf8').catch(() => ''));
    const rootDev = mounts.filter((m) => m.mountPoint === '/').pop()?.dev;
    const keys = { A: new Set<string>(), B: new Set<string>() };
    for (const slot of ['A', 'B'] as const) {
      for (const path of paths[slot]) {
        const st = await stat(path, { bigint: true }).catch(() => undefined);
        if (st?.isBlockDevice()) keys[slot].add(devKey(st.rdev));
      }
      if (rootDev !== undefined && keys[slot].has(rootDev)) return slot;
    }
    const root = cmdlineValue(await readCmdline(cmdlinePath), 'root');
    if (root !== undefined) {
      const rootPath = await resolveSlotSpec(root, views).catch(() => undefined);
      const rootSt = rootPath ? await stat(rootPath, { bigint: true }).catch(() => undefined) : undefined;
      for (const slot of ['A', 'B'] as const) {
        if ((rootPath !== undefined && paths[slot].includes(rootPath)) || (rootSt?.isBlockDevice() && keys[slot].has(devKey(rootSt.rdev)))) return slot;
      }
    }
    throw new FotaError(
      'io-error',
      `the root device (${rootDev ? `${rootDev} at /, ` : ''}root=${root ?? '?'} in ${cmdlinePath}) is neither slot A (${paths.A.join('+')}) nor slot B (${paths.B.join('+')}); fix the slot paths or use a slot token on the command line`,
    );
  };
}
