// A `uboot` board on files for the contract and byte-level tests: slots, the convention's environment (mkenvimage,
// single or redundant, read and written by the real fw_printenv/fw_setenv) and boots run by the hush interpreter
// (uboot-board.ts). The kernel command line the platform reads is the bootargs the boot logic built.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SlotName } from '../../agent/core/ports.js';
import { readSimImageHeader } from '../../platform/simulator/image-header.js';
import { createPlatform } from '../../platform/registry.js';
import { initialEnv } from '../../platform/uboot/ab-scheme.js';
import { formatFwEnvConfig } from '../../platform/uboot/fw-env-config.js';
import { FwToolsBootEnv } from '../../platform/uboot/fw-tools-boot-env.js';
import { fileBoardAccess, simImage, type PlatformFixture } from '../contract/platform.contract.js';
import { FOTA_BOARD_ENV, FOTA_BOOT_SCRIPT, loadPartition, menderEnv, powerOn, RAUC_BOOT_SCRIPT } from './uboot-board.js';

const run = promisify(execFile);
const CAPACITY = 1024 * 1024;
const ENV_SIZE = 0x4000;
const PART: Record<SlotName, number> = { A: 2, B: 3 };

export type Convention = 'fota' | 'mender' | 'rauc';

/** How each convention's board boots, and how the fixture (not the platform) tells the booted slot and a trial. */
export const BOARDS: Record<Convention, {
  env(dir: string): Record<string, string>;
  bootcountLimit: boolean;
  script?: string;
  slotOf(bootargs: string, dir: string): SlotName | undefined;
  trial(env: Record<string, string>, booted: SlotName): boolean;
  trialBoots: number;
}> = {
  fota: {
    env: () => ({ ...initialEnv(), ...FOTA_BOARD_ENV }),
    bootcountLimit: false,
    script: FOTA_BOOT_SCRIPT,
    slotOf: (args) => /(?:^| )fota\.slot=([AB])(?: |$)/.exec(args)?.[1] as SlotName | undefined,
    trial: (env) => env['upgrade_available'] === '1',
    trialBoots: 3,
  },
  mender: {
    env: (dir) => menderEnv(join(dir, 'mmcblk0p')),
    bootcountLimit: true,
    slotOf: (args, dir) => {
      const n = Number(new RegExp(`root=${join(dir, 'mmcblk0p')}(\\d+)`).exec(args)?.[1]);
      return n === PART.A ? 'A' : n === PART.B ? 'B' : undefined;
    },
    trial: (env) => env['upgrade_available'] === '1',
    trialBoots: 1,
  },
  rauc: {
    env: () => ({ console: 'ttyS0', kernel_addr_r: '0x40400000' }),
    bootcountLimit: false,
    script: RAUC_BOOT_SCRIPT,
    slotOf: (args) => /(?:^| )rauc\.slot=([AB])(?: |$)/.exec(args)?.[1] as SlotName | undefined,
    // RAUC's variables cannot tell an update from a normal boot: fota's marker does
    trial: (env, booted) => env['fota_trial'] === booted,
    trialBoots: 3,
  },
};

export interface UBootBoard extends PlatformFixture {
  dir: string;
  envFile: string;
  config: string;
  options: Record<string, unknown>;
}

/** A board on files: slots mmcblk0p2/3 (A holds 1.0.0), the convention's environment (mkenvimage), booted once. */
export async function makeUBootBoard(convention: Convention, redundant: boolean, extra: Record<string, unknown> = {}): Promise<UBootBoard> {
  const board = BOARDS[convention];
  const dir = await mkdtemp(join(tmpdir(), `fota-uboot-${convention}-`));
  const slots = { A: join(dir, 'mmcblk0p2'), B: join(dir, 'mmcblk0p3') };
  await writeFile(slots.A, simImage('1.0.0'));
  await writeFile(slots.B, '');
  for (const s of [slots.A, slots.B]) await truncate(s, CAPACITY);
  await writeFile(join(dir, 'factory.img'), simImage('1.0.0', 32 * 1024));
  const vars = join(dir, 'env.txt');
  await writeFile(vars, Object.entries(board.env(dir)).map(([k, v]) => `${k}=${v}\n`).join(''));
  const copy = join(dir, 'env.img');
  await run('mkenvimage', [...(redundant ? ['-r'] : []), '-p', '0', '-s', `0x${ENV_SIZE.toString(16)}`, '-o', copy, vars]);
  const envFile = join(dir, 'uboot.env');
  const one = await readFile(copy);
  await writeFile(envFile, redundant ? Buffer.concat([one, one]) : one);
  const config = join(dir, 'fw_env.config');
  await writeFile(config, formatFwEnvConfig(redundant ? [{ path: envFile, offset: 0, size: ENV_SIZE }, { path: envFile, offset: ENV_SIZE, size: ENV_SIZE }] : [{ path: envFile, offset: 0, size: ENV_SIZE }]));
  const cmdline = join(dir, 'cmdline');
  const versionFile = join(dir, 'firmware-version');
  const rebootLog = join(dir, 'reboots');
  await writeFile(rebootLog, '');
  const env = new FwToolsBootEnv({ config });
  const load = (argv: string[]): boolean => {
    const part = loadPartition(argv);
    const slot = part === PART.A ? 'A' : part === PART.B ? 'B' : undefined;
    if (!slot) return false;
    // a slot with no image has no kernel to load
    return readFileSync(slots[slot]).subarray(0, 8).toString() === 'FOTASIM1';
  };
  const boot = async () => {
    const r = await powerOn({ env, bootcountLimit: board.bootcountLimit, ...(board.script ? { script: board.script } : {}), load });
    if (r.kind !== 'booted') throw new Error(`the board did not boot (${r.kind}): ${r.log.join(' | ')}`);
    const slot = board.slotOf(r.bootargs, dir);
    if (!slot) throw new Error(`no slot in bootargs "${r.bootargs}"`);
    await writeFile(versionFile, `${(await readSimImageHeader(slots[slot])).version}\n`);
    await writeFile(cmdline, `${r.bootargs}\n`);
    return { slot, trial: board.trial(await env.read(), slot) };
  };
  await boot();
  const options = {
    slots,
    convention,
    envConfig: config,
    firmwareVersionFile: versionFile,
    rebootCommand: [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(rebootLog)}, 'r')`],
    factoryImage: { path: join(dir, 'factory.img'), version: '1.0.0' },
    system: { cmdline, mountinfo: join(dir, 'no-mountinfo') },
    ...extra,
  };
  const make = () => createPlatform('uboot', options);
  return {
    dir,
    envFile,
    config,
    options,
    platform: make(),
    restart: make,
    boot,
    ...fileBoardAccess(dir, slots, rebootLog),
    capacity: CAPACITY,
    trialBoots: typeof extra['bootlimit'] === 'number' ? extra['bootlimit'] : board.trialBoots,
  };
}

