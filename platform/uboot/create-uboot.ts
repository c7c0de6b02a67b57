// The `uboot` backend's factory: options → EnvPlatform with a U-Boot environment (fw_printenv/fw_setenv, or native on
// the bytes fw_env.config describes) under fota's, Mender's or RAUC's convention. Also used by the `edison` preset.

import type { PlatformAdapter, SlotName } from '../../agent/core/ports.js';
import { BOARD_KEYS, parseBoardOptions, parseBootedSlot, type BoardOptions } from '../board-options.js';
import { PlatformConfigError } from '../config-error.js';
import { EnvPlatform } from '../env-platform.js';
import { absPath, int, K, object, oneOf, str, type Obj } from '../options.js';
import { ownConvention } from './ab-scheme.js';
import type { BootEnv } from './boot-env.js';
import type { BootConvention } from './convention.js';
import { FileBootEnv } from './file-boot-env.js';
import { FwToolsBootEnv } from './fw-tools-boot-env.js';
import { menderConvention } from './mender.js';
import { raucConvention } from './rauc.js';
import { partitionNumber } from '../slots/slot-spec.js';

export const UBOOT_KEYS = [...BOARD_KEYS, 'convention', 'env', 'envConfig', 'fwPrintenv', 'fwSetenv', 'bootlimit', 'partitions', 'bootnames', 'attempts', 'bootedSlot'] as const;

/** Resolves the native environment location from fw_env.config on first use (the factory itself stays synchronous). */
function lazyEnv(load: () => Promise<BootEnv>): BootEnv {
  let env: Promise<BootEnv> | undefined;
  const get = () =>
    (env ??= load().catch((e: unknown) => {
      env = undefined;
      throw e;
    }));
  return { read: async () => (await get()).read(), write: async (vars) => (await get()).write(vars) };
}

export function parseUBootEnv(o: Obj, key = K): BootEnv {
  const mode = oneOf(o, 'env', key, ['fw-tools', 'native'] as const, 'fw-tools');
  const config = absPath(o, 'envConfig', key, '/etc/fw_env.config');
  return mode === 'native'
    ? lazyEnv(() => FileBootEnv.fromConfigFile(config))
    : new FwToolsBootEnv({ config, fwPrintenv: str(o, 'fwPrintenv', key, 'fw_printenv'), fwSetenv: str(o, 'fwSetenv', key, 'fw_setenv') });
}

function slotPair(o: Obj, k: string, key: string): Obj | undefined {
  return o[k] === undefined ? undefined : object(o[k], `${key}.${k}`, ['A', 'B']);
}

/** Mender's partition numbers: configured, else read off the resolved slot devices. */
function menderParts(o: Obj, key: string, board: BoardOptions): () => Promise<Record<SlotName, number>> {
  const given = slotPair(o, 'partitions', key);
  if (given) {
    const parts = { A: int(given, 'A', `${key}.partitions`, 1, 128), B: int(given, 'B', `${key}.partitions`, 1, 128) };
    if (parts.A === undefined || parts.B === undefined) throw new PlatformConfigError(`${key}.partitions`, 'needs both A and B, e.g. { "A": 2, "B": 3 }');
    if (parts.A === parts.B) throw new PlatformConfigError(`${key}.partitions`, 'A and B must differ');
    return async () => parts as Record<SlotName, number>;
  }
  return async () => {
    // the root filesystem is what mender_boot_part names: the last device of a slot
    const all = await board.slots.parts();
    const paths = { A: all.A[all.A.length - 1]!, B: all.B[all.B.length - 1]! };
    const parts = { A: partitionNumber(paths.A), B: partitionNumber(paths.B) };
    if (parts.A === undefined || parts.B === undefined || parts.A === parts.B)
      throw new PlatformConfigError(`${key}.partitions`, `cannot tell the partition numbers from ${paths.A} and ${paths.B}; set them, e.g. { "A": 2, "B": 3 } (the values of mender_boot_part)`);
    return parts as Record<SlotName, number>;
  };
}

function convention(o: Obj, key: string, board: BoardOptions): { name: string; make: BootConvention | (() => Promise<BootConvention>) } {
  const name = oneOf(o, 'convention', key, ['fota', 'mender', 'rauc'] as const, 'fota');
  const only = (k: string, where: string) => {
    if (o[k] !== undefined) throw new PlatformConfigError(`${key}.${k}`, `applies to the ${where} convention only`);
  };
  // U-Boot's setexpr counts in hex: while bootcount (at most bootlimit + 1) stays one digit, hex and the script's
  // decimal `test -gt` agree; bootcount 10 would be stored as "a" and the trial would never end
  const bootlimit = int(o, 'bootlimit', key, 1, 8, ' (default: the environment\'s)');
  if (name === 'fota') {
    only('partitions', 'mender');
    only('bootnames', 'rauc');
    only('attempts', 'rauc');
    return { name, make: ownConvention(bootlimit !== undefined ? { bootlimit } : {}) };
  }
  if (name === 'mender') {
    only('bootnames', 'rauc');
    only('attempts', 'rauc');
    const parts = menderParts(o, key, board);
    return { name, make: async () => menderConvention({ parts: await parts(), ...(bootlimit !== undefined ? { bootlimit } : {}) }) };
  }
  only('partitions', 'mender');
  only('bootlimit', 'fota and mender');
  const names = slotPair(o, 'bootnames', key);
  const bootnames = names ? { A: str(names, 'A', `${key}.bootnames`, 'A'), B: str(names, 'B', `${key}.bootnames`, 'B') } : undefined;
  if (bootnames && (bootnames.A === bootnames.B || /\s/.test(bootnames.A + bootnames.B))) throw new PlatformConfigError(`${key}.bootnames`, 'must be two different names without spaces');
  const attempts = int(o, 'attempts', key, 1, 9);
  return { name, make: raucConvention({ ...(bootnames ? { bootnames } : {}), ...(attempts !== undefined ? { attempts } : {}) }) };
}

/** Builds a U-Boot EnvPlatform; a preset (edison) fills in default options and where the environment is. */
export function createUBoot(options: unknown, preset: { name?: string; known?: readonly string[]; defaults?: Obj; env?: (o: Obj, board: BoardOptions) => BootEnv | undefined } = {}): PlatformAdapter {
  const given = object(options ?? {}, K, preset.known ?? UBOOT_KEYS);
  const o: Obj = { ...preset.defaults, ...given };
  const board = parseBoardOptions(o, K);
  const conv = convention(o, K, board);
  const bootedSlot = parseBootedSlot(o, K, board, {
    fota: { source: 'cmdline' as const, key: 'fota.slot' },
    mender: { source: 'root-device' as const, key: 'fota.slot' },
    rauc: { source: 'cmdline' as const, key: 'rauc.slot', hint: 'RAUC boot scripts add "rauc.slot=${BOOT_SLOT}" (or set bootedSlot.key to your script\'s token)' },
  }[conv.name]!);
  return new EnvPlatform({
    name: preset.name ?? 'uboot',
    env: preset.env?.(given, board) ?? parseUBootEnv(o),
    convention: conv.make,
    slots: board.slots,
    bootedSlot,
    firmwareVersion: board.firmwareVersion,
    reboot: board.reboot,
    ...(board.factoryImage ? { factoryImage: board.factoryImage } : {}),
  });
}
