// The `grub` backend's factory: options → EnvPlatform over grubenv (GrubEnv, the real grub-editenv) under fota's own
// convention, with platform/grub/fota-grub.cfg doing the count and the fallback at boot. For x86 boards and
// industrial PCs (and any board booting GRUB).

import type { PlatformAdapter } from '../../agent/core/ports.js';
import { BOARD_KEYS, parseBoardOptions, parseBootedSlot } from '../board-options.js';
import { EnvPlatform } from '../env-platform.js';
import { absPath, int, K, object, str } from '../options.js';
import { ownConvention } from '../uboot/ab-scheme.js';
import { GrubEnv } from './grub-env.js';

export const GRUB_KEYS = [...BOARD_KEYS, 'envFile', 'grubEditenv', 'bootlimit', 'bootedSlot'] as const;

export function createGrub(options: unknown): PlatformAdapter {
  const o = object(options ?? {}, K, GRUB_KEYS);
  const board = parseBoardOptions(o, K);
  // fota-grub.cfg counts with an if/elif chain up to 9: a bootlimit above 8 could never be exceeded
  const bootlimit = int(o, 'bootlimit', K, 1, 8, ' (default: grubenv\'s, else 3)');
  return new EnvPlatform({
    name: 'grub',
    envLabel: 'the GRUB environment (grubenv)',
    env: new GrubEnv({ file: absPath(o, 'envFile', K, '/boot/grub/grubenv'), tool: str(o, 'grubEditenv', K, 'grub-editenv') }),
    convention: ownConvention(bootlimit !== undefined ? { bootlimit } : {}),
    slots: board.slots,
    bootedSlot: parseBootedSlot(o, K, board, { source: 'cmdline', key: 'fota.slot', hint: 'the menuentry of platform/grub/fota-grub.cfg adds "fota.slot=${boot_part}" to the kernel arguments' }),
    firmwareVersion: board.firmwareVersion,
    reboot: board.reboot,
    ...(board.factoryImage ? { factoryImage: board.factoryImage } : {}),
  });
}
