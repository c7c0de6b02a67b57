// The one table of board backends: name → factory(options, ctx) → PlatformAdapter, plus each backend's default
// device type. Options are validated here; a bad or unknown key, or an unknown platform name, is a
// PlatformConfigError naming the key (the agent exits 78 on it), never a crash later.

import type { PlatformAdapter } from '../agent/core/ports.js';
import { DEFAULT_BOOTLIMIT } from './uboot/ab-scheme.js';
import type { BootEnv } from './uboot/boot-env.js';
import { cmdlineSlotSource, rootDeviceSlotSource } from './uboot/booted-slot.js';
import { FileBootEnv } from './uboot/file-boot-env.js';
import { FwToolsBootEnv } from './uboot/fw-tools-boot-env.js';
import { commandReboot, fileFactoryImage, readFirmwareVersion } from './uboot/system-hooks.js';
import { UBootPlatform } from './uboot/uboot-platform.js';
import { SIM_DEVICE_TYPE } from './simulator/constants.js';
import { SimulatorPlatform } from './simulator/simulator-platform.js';

export class PlatformConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
    this.name = 'PlatformConfigError';
  }
}

/** What the composition root hands every backend. */
export interface PlatformContext {
  /** the simulator's reboot: stop the daemon and exit with SIM_REBOOT_EXIT_CODE (real boards use their reboot command) */
  reboot?: () => Promise<void>;
}

export interface PlatformEntry {
  summary: string;
  /** the device type reported when the configuration does not set one */
  defaultDeviceType: string;
  /** Throws PlatformConfigError for bad options. */
  create(options: unknown, ctx: PlatformContext): PlatformAdapter;
}

const K = 'platform.options';
type Obj = Record<string, unknown>;

function object(v: unknown, key: string, known: readonly string[]): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PlatformConfigError(key, 'must be an object');
  for (const k of Object.keys(v)) if (!known.includes(k)) throw new PlatformConfigError(`${key}.${k}`, `unknown key (known here: ${known.join(', ')})`);
  return v as Obj;
}

function absPath(o: Obj, k: string, key: string, fallback?: string): string {
  const v = o[k] ?? fallback;
  if (v === undefined) throw new PlatformConfigError(`${key}.${k}`, 'is required');
  if (typeof v !== 'string' || !v.startsWith('/')) throw new PlatformConfigError(`${key}.${k}`, `must be an absolute path (got ${JSON.stringify(v)})`);
  return v;
}

function str(o: Obj, k: string, key: string, fallback: string): string {
  const v = o[k] ?? fallback;
  if (typeof v !== 'string' || v === '') throw new PlatformConfigError(`${key}.${k}`, 'must be a non-empty string');
  return v;
}

function oneOf<T extends string>(o: Obj, k: string, key: string, values: readonly T[], fallback: T): T {
  const v = o[k] ?? fallback;
  if (!values.includes(v as T)) throw new PlatformConfigError(`${key}.${k}`, `must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}`);
  return v as T;
}

/** Resolves the native environment location from fw_env.config on first use (the factory itself stays synchronous). */
function lazyEnv(load: () => Promise<BootEnv>): BootEnv {
  let env: Promise<BootEnv> | undefined;
  const get = () => (env ??= load().catch((e: unknown) => {
    env = undefined;
    throw e;
  }));
  return { read: async () => (await get()).read(), write: async (vars) => (await get()).write(vars) };
}

function createUBoot(options: unknown): PlatformAdapter {
  const known = ['slots', 'env', 'envConfig', 'fwPrintenv', 'fwSetenv', 'bootlimit', 'firmwareVersionFile', 'rebootCommand', 'bootedSlot', 'factoryImage'] as const;
  const o = object(options ?? {}, K, known);
  if (o['slots'] === undefined) throw new PlatformConfigError(`${K}.slots`, 'is required, e.g. { "A": "/dev/mmcblk0p2", "B": "/dev/mmcblk0p3" }');
  const slotsObj = object(o['slots'], `${K}.slots`, ['A', 'B']);
  const slots = { A: absPath(slotsObj, 'A', `${K}.slots`), B: absPath(slotsObj, 'B', `${K}.slots`) };
  if (slots.A === slots.B) throw new PlatformConfigError(`${K}.slots`, 'A and B must be different devices');
  const mode = oneOf(o, 'env', K, ['fw-tools', 'native'] as const, 'fw-tools');
  const config = absPath(o, 'envConfig', K, '/etc/fw_env.config');
  const env: BootEnv =
    mode === 'native'
      ? lazyEnv(() => FileBootEnv.fromConfigFile(config))
      : new FwToolsBootEnv({ config, fwPrintenv: str(o, 'fwPrintenv', K, 'fw_printenv'), fwSetenv: str(o, 'fwSetenv', K, 'fw_setenv') });
  const bootlimit = o['bootlimit'];
  // U-Boot's setexpr counts in hex: while bootcount (at most bootlimit + 1) stays one digit, hex and the script's
  // decimal `test -gt` agree; bootcount 10 would be stored as "a" and the trial would never end
  if (bootlimit !== undefined && (!Number.isInteger(bootlimit) || (bootlimit as number) < 1 || (bootlimit as number) > 8))
    throw new PlatformConfigError(`${K}.bootlimit`, `must be an integer from 1 to 8 (default: the environment's, else ${DEFAULT_BOOTLIMIT})`);
  const versionFile = absPath(o, 'firmwareVersionFile', K, '/etc/fota/firmware-version');
  const rebootArgv = o['rebootCommand'] ?? ['systemctl', 'reboot'];
  if (!Array.isArray(rebootArgv) || rebootArgv.length === 0 || !rebootArgv.every((a) => typeof a === 'string' && a !== ''))
    throw new PlatformConfigError(`${K}.rebootCommand`, 'must be a non-empty array of strings (argv, no shell), e.g. ["systemctl", "reboot"]');
  const bs = object(o['bootedSlot'] ?? { source: 'cmdline' }, `${K}.bootedSlot`, ['source', 'path', 'key', 'cmdline']);
  const source = oneOf(bs, 'source', `${K}.bootedSlot`, ['cmdline', 'root-device'] as const, 'cmdline');
  const bootedSlot =
    source === 'cmdline'
      ? cmdlineSlotSource({ path: absPath(bs, 'path', `${K}.bootedSlot`, '/proc/cmdline'), key: str(bs, 'key', `${K}.bootedSlot`, 'fota.slot') })
      : rootDeviceSlotSource(slots, { cmdline: absPath(bs, 'cmdline', `${K}.bootedSlot`, '/proc/cmdline') });
  let factoryImage: ReturnType<typeof fileFactoryImage> | undefined;
  if (o['factoryImage'] !== undefined) {
    const f = object(o['factoryImage'], `${K}.factoryImage`, ['path', 'version']);
    factoryImage = fileFactoryImage(absPath(f, 'path', `${K}.factoryImage`), str(f, 'version', `${K}.factoryImage`, ''));
  }
  return new UBootPlatform({
    env,
    slots,
    bootedSlot,
    firmwareVersion: () => readFirmwareVersion(versionFile),
    ...(bootlimit !== undefined ? { bootlimit: bootlimit as number } : {}),
    reboot: commandReboot(rebootArgv as string[]),
    ...(factoryImage ? { factoryImage } : {}),
  });
}

function createSimulator(options: unknown, ctx: PlatformContext): PlatformAdapter {
  const o = object(options ?? {}, K, ['dir']);
  return new SimulatorPlatform({ dir: absPath(o, 'dir', K), ...(ctx.reboot ? { reboot: ctx.reboot } : {}) });
}

export const PLATFORMS: Readonly<Record<string, PlatformEntry>> = Object.freeze({
  simulator: { summary: 'a device in a folder (fota sim run), U-Boot A/B logic on files', defaultDeviceType: SIM_DEVICE_TYPE, create: createSimulator },
  uboot: { summary: 'U-Boot A/B with bootcount (boot_part, upgrade_available, bootcount, bootlimit)', defaultDeviceType: 'uboot-ab', create: createUBoot },
});

export const PLATFORM_NAMES: readonly string[] = Object.keys(PLATFORMS);

function entry(name: string): PlatformEntry {
  const e = Object.hasOwn(PLATFORMS, name) ? PLATFORMS[name] : undefined;
  if (!e) throw new PlatformConfigError('platform.name', `unknown platform "${name}" (known: ${PLATFORM_NAMES.join(', ')})`);
  return e;
}

/** Builds the named backend. Throws PlatformConfigError for an unknown name or bad options. */
export function createPlatform(name: string, options: unknown, ctx: PlatformContext = {}): PlatformAdapter {
  return entry(name).create(options, ctx);
}

/** The device type a backend reports by default. Throws PlatformConfigError for an unknown name. */
export function platformDeviceType(name: string): string {
  return entry(name).defaultDeviceType;
}
