// The `edison` preset: the uboot backend with a redundant environment on the u-boot-env0/u-boot-env1 partitions
// (64 KiB each) and slots by partition label, found through /dev/disk/by-partlabel (a folder of links here). The
// "U-Boot" of the fixture reads and writes the same two partitions with the real fw_printenv/fw_setenv while the
// agent writes them natively; every boot runs fota's boot script in the interpreter. A board without the Edison's
// environment partitions is a configuration error naming the platform.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { SlotName } from '../../agent/core/ports.js';
import { EDISON_ENV_SIZE } from '../../platform/edison/create-edison.js';
import { checkPlatform, createPlatform, PlatformConfigError } from '../../platform/registry.js';
import { readSimImageHeader } from '../../platform/simulator/image-header.js';
import { initialEnv } from '../../platform/uboot/ab-scheme.js';
import { FwToolsBootEnv } from '../../platform/uboot/fw-tools-boot-env.js';
import { FOTA_BOARD_ENV, FOTA_BOOT_SCRIPT, loadPartition, powerOn } from '../helpers/uboot-board.js';
import { fileBoardAccess, platformContract, simImage, type PlatformFixture } from './platform.contract.js';

const run = promisify(execFile);
const CAPACITY = 1024 * 1024;

async function makeEdison(opts: { envPartitions?: boolean } = {}): Promise<PlatformFixture & { options: Record<string, unknown> }> {
  const dir = await mkdtemp(join(tmpdir(), 'fota-edison-'));
  const dev = join(dir, 'dev');
  const byLabel = join(dir, 'disk', 'by-partlabel');
  await mkdir(dev);
  await mkdir(byLabel, { recursive: true });
  // the eMMC's partitions that matter here, as files, and udev's links to them
  const part = async (n: number, label: string, content: Buffer, size: number) => {
    const file = join(dev, `mmcblk0p${n}`);
    await writeFile(file, content);
    await truncate(file, size);
    await symlink(file, join(byLabel, label));
    return file;
  };
  const vars = join(dir, 'env.txt');
  await writeFile(vars, Object.entries({ ...initialEnv(), ...FOTA_BOARD_ENV }).map(([k, v]) => `${k}=${v}\n`).join(''));
  const envImage = join(dir, 'env.img');
  await run('mkenvimage', ['-r', '-p', '0', '-s', `0x${EDISON_ENV_SIZE.toString(16)}`, '-o', envImage, vars]);
  const env0 = opts.envPartitions === false ? join(dir, 'none0') : await part(2, 'u-boot-env0', await readFile(envImage), 1024 * 1024);
  const env1 = opts.envPartitions === false ? join(dir, 'none1') : await part(4, 'u-boot-env1', await readFile(envImage), 1024 * 1024);
  const slots = { A: await part(8, 'rootfs-a', simImage('1.0.0'), CAPACITY), B: await part(9, 'rootfs-b', Buffer.alloc(0), CAPACITY) };
  await writeFile(join(dir, 'factory.img'), simImage('1.0.0', 32 * 1024));
  const config = join(dir, 'fw_env.config');
  await writeFile(config, `${env0} 0x0 0x${EDISON_ENV_SIZE.toString(16)}\n${env1} 0x0 0x${EDISON_ENV_SIZE.toString(16)}\n`);
  const cmdline = join(dir, 'cmdline');
  const versionFile = join(dir, 'firmware-version');
  const rebootLog = join(dir, 'reboots');
  await writeFile(rebootLog, '');
  const ubootEnv = new FwToolsBootEnv({ config });
  const load = (argv: string[]) => {
    const slot = ({ 2: 'A', 3: 'B' } as Record<number, SlotName>)[loadPartition(argv) ?? 0];
    return slot !== undefined && readFileSync(slots[slot]).subarray(0, 8).toString() === 'FOTASIM1';
  };
  const boot = async () => {
    const r = await powerOn({ env: ubootEnv, bootcountLimit: false, script: FOTA_BOOT_SCRIPT, load });
    if (r.kind !== 'booted') throw new Error(`the board did not boot (${r.kind})`);
    const slot = /fota\.slot=([AB])/.exec(r.bootargs)![1] as SlotName;
    await writeFile(versionFile, `${(await readSimImageHeader(slots[slot])).version}\n`);
    await writeFile(cmdline, `${r.bootargs}\n`);
    return { slot, trial: (await ubootEnv.read())['upgrade_available'] === '1' };
  };
  if (opts.envPartitions !== false) await boot();
  const options = {
    firmwareVersionFile: versionFile,
    rebootCommand: [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(rebootLog)}, 'r')`],
    factoryImage: { path: join(dir, 'factory.img'), version: '1.0.0' },
    system: { cmdline, mountinfo: join(dir, 'none'), devDisk: join(dir, 'disk'), sysBlock: join(dir, 'no-sysfs') },
  };
  const make = () => createPlatform('edison', options);
  return {
    options,
    platform: make(),
    restart: make,
    boot,
    ...fileBoardAccess(dir, slots, rebootLog),
    capacity: CAPACITY,
    trialBoots: 3,
  };
}

platformContract('edison (u-boot-env0/1 partitions natively, slots by label; U-Boot side through fw_setenv)', makeEdison);

describe('edison preset', () => {
  it('finds its slots and environment by partition label; a board without u-boot-env0 is not an Edison', async () => {
    const ok = await makeEdison();
    try {
      expect(await checkPlatform(ok.platform)).toEqual([expect.stringMatching(/^booted slot A \(.*mmcblk0p8\), inactive slot B \(.*mmcblk0p9\), fota convention$/)]);
    } finally {
      await ok.cleanup();
    }
    const other = await makeEdison({ envPartitions: false });
    try {
      const e = await checkPlatform(other.platform).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(PlatformConfigError);
      expect((e as PlatformConfigError).key).toBe('platform.name');
      expect((e as Error).message).toMatch(/PARTLABEL=u-boot-env0: no partition has this label.*an Edison keeps its U-Boot environment in the u-boot-env0 and u-boot-env1 partitions/);
    } finally {
      await other.cleanup();
    }
  });
});
