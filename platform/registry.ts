// The one table of board backends: name → factory(options, ctx) → PlatformAdapter, plus each backend's default
// device type. Options are validated here; a bad or unknown key, or an unknown platform name, is a
// PlatformConfigError naming the key (the agent exits 78 on it), never a crash later.

import type { PlatformAdapter } from '../agent/core/ports.js';
import { PlatformConfigError, hasBoardCheck } from './config-error.js';
import { absPath, K, object } from './options.js';
import { SIM_DEVICE_TYPE } from './simulator/constants.js';
import { SimulatorPlatform } from './simulator/simulator-platform.js';
import { createEdison } from './edison/create-edison.js';
import { createGrub } from './grub/create-grub.js';
import { createRpiTryboot } from './rpi/create-rpi.js';
import { createUBoot } from './uboot/create-uboot.js';

export { PlatformConfigError } from './config-error.js';

/** What the composition root hands every backend. */
export interface PlatformContext {
  /** the simulator's reboot: stop the daemon and exit with SIM_REBOOT_EXIT_CODE (real boards use their reboot command) */
  reboot?: () => Promise<void>;
  /** the agent's state directory (a backend may keep a small file there, e.g. rpi-tryboot's armed trial) */
  stateDir?: string;
}

export interface PlatformEntry {
  summary: string;
  /** the device type reported when the configuration does not set one */
  defaultDeviceType: string;
  /** Throws PlatformConfigError for bad options. */
  create(options: unknown, ctx: PlatformContext): PlatformAdapter;
}

function createSimulator(options: unknown, ctx: PlatformContext): PlatformAdapter {
  const o = object(options ?? {}, K, ['dir']);
  return new SimulatorPlatform({ dir: absPath(o, 'dir', K), ...(ctx.reboot ? { reboot: ctx.reboot } : {}) });
}

export const PLATFORMS: Readonly<Record<string, PlatformEntry>> = Object.freeze({
  simulator: { summary: 'a device in a folder (fota sim run), U-Boot A/B logic on files', defaultDeviceType: SIM_DEVICE_TYPE, create: createSimulator },
  edison: { summary: 'Intel Edison on a current Yocto build: the uboot backend with the environment on u-boot-env0/1 and slots by partition label', defaultDeviceType: 'edison', create: (o) => createEdison(o) },
  grub: { summary: 'GRUB A/B (x86 boards, industrial PCs): grubenv with a boot counter and platform/grub/fota-grub.cfg', defaultDeviceType: 'grub-ab', create: (o) => createGrub(o) },
  'rpi-tryboot': { summary: 'Raspberry Pi 4/5/400/CM4 firmware A/B without U-Boot: autoboot.txt and reboot "0 tryboot"', defaultDeviceType: 'rpi-ab', create: (o, ctx) => createRpiTryboot(o, ctx) },
  uboot: { summary: 'U-Boot A/B: fota\'s own variables, or a device provisioned for Mender or RAUC (options.convention)', defaultDeviceType: 'uboot-ab', create: (o) => createUBoot(o) },
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

/**
 * Checks at start that the backend fits the board (slots resolve, the bootloader's files are where the options say).
 * Throws PlatformConfigError (the agent exits 78); returns notes to log once. A backend without checks returns [].
 */
export async function checkPlatform(p: PlatformAdapter, opts: { settle: boolean } = { settle: true }): Promise<string[]> {
  return hasBoardCheck(p) ? p.checkBoard(opts) : [];
}
