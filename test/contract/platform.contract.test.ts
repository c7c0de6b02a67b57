// Runs the PlatformAdapter contract against the simulator and against UBootPlatform (built through the registry)
// on a file-backed environment and slot files, with the real fw_printenv/fw_setenv and with the native env.
// The "boot" of the U-Boot fixture is the simulated bootloader's script applied to the env file, then the booted
// slot written to a fake /proc/cmdline and the slot's firmware version to the version file.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { SlotName } from '../../agent/core/ports.js';
import { bootOnce, simulateBoot } from '../../platform/simulator/bootloader.js';
import { ensureSimDevice, simPaths } from '../../platform/simulator/device-dir.js';
import { readSimImageHeader } from '../../platform/simulator/image-header.js';
import { createPlatform } from '../../platform/registry.js';
import { initialEnv } from '../../platform/uboot/ab-scheme.js';
import { FwToolsBootEnv } from '../../platform/uboot/fw-tools-boot-env.js';
import { platformContract, simImage, type PlatformFixture } from './platform.contract.js';

const run = promisify(execFile);
const CAPACITY = 1024 * 1024;

async function readHead(file: string, length: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

platformContract('SimulatorPlatform', async (): Promise<PlatformFixture> => {
  const dir = await mkdtemp(join(tmpdir(), 'fota-simplat-'));
  await ensureSimDevice({ dir, id: 'contract-sim', imageSize: 64 * 1024, slotCapacity: CAPACITY });
  await bootOnce(dir);
  let reboots = 0;
  const make = () => createPlatform('simulator', { dir }, { reboot: async () => void reboots++ });
  const paths = simPaths(dir);
  return {
    platform: make(),
    restart: make,
    boot: async () => {
      const r = await bootOnce(dir);
      return { slot: r.slot, trial: r.trial };
    },
    readSlot: (slot: SlotName, length: number) => readHead(paths.slots[slot], length),
    reboots: async () => {
      await new Promise((r) => setImmediate(r)); // the handler runs right after reboot() resolves
      return reboots;
    },
    capacity: CAPACITY,
    trialBoots: 3,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('SimulatorPlatform.reboot', () => {
  it('resolves once requested, without waiting for the handler (regression: the agent deadlocked on reboot)', async () => {
    // the composition root's handler stops the daemon, whose stop waits for the effect calling reboot()
    const dir = await mkdtemp(join(tmpdir(), 'fota-simreboot-'));
    try {
      let called = false;
      const p = createPlatform('simulator', { dir }, { reboot: () => ((called = true), new Promise<void>(() => undefined)) });
      await p.reboot('update');
      await new Promise((r) => setImmediate(r));
      expect(called).toBe(true);
      const none = createPlatform('simulator', { dir });
      await expect(none.reboot('update')).rejects.toMatchObject({ code: 'unsupported' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

for (const envMode of ['fw-tools', 'native'] as const) {
  platformContract(`UBootPlatform (env: ${envMode}, file-backed)`, async (): Promise<PlatformFixture> => {
    const dir = await mkdtemp(join(tmpdir(), 'fota-ubootplat-'));
    const slots = { A: join(dir, 'mmcblk0p2'), B: join(dir, 'mmcblk0p3') };
    await writeFile(slots.A, simImage('1.0.0'));
    await writeFile(slots.B, '');
    for (const s of [slots.A, slots.B]) await truncate(s, CAPACITY);
    await writeFile(join(dir, 'factory.img'), simImage('1.0.0', 32 * 1024));
    // the environment as a board ships it: mkenvimage, one copy (as in the QEMU HIL study)
    const vars = join(dir, 'env.txt');
    await writeFile(vars, Object.entries(initialEnv()).map(([k, v]) => `${k}=${v}\n`).join(''));
    const envFile = join(dir, 'uboot.env');
    await run('mkenvimage', ['-s', '0x4000', '-o', envFile, vars]);
    const config = join(dir, 'fw_env.config');
    await writeFile(config, `${envFile} 0x0 0x4000\n`);
    const cmdline = join(dir, 'cmdline');
    const versionFile = join(dir, 'firmware-version');
    const rebootLog = join(dir, 'reboots');
    await writeFile(rebootLog, '');
    const boot = async () => {
      const d = await simulateBoot(new FwToolsBootEnv({ config }));
      await writeFile(versionFile, `${(await readSimImageHeader(slots[d.slot])).version}\n`);
      await writeFile(cmdline, `console=ttyS0 root=/dev/mmcblk0p${d.slot === 'A' ? 2 : 3} rootwait fota.slot=${d.slot} quiet\n`);
      return { slot: d.slot, trial: d.trial };
    };
    await boot();
    const make = () =>
      createPlatform('uboot', {
        slots,
        env: envMode,
        envConfig: config,
        bootedSlot: { source: 'cmdline', path: cmdline },
        firmwareVersionFile: versionFile,
        rebootCommand: [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(rebootLog)}, 'r')`],
        factoryImage: { path: join(dir, 'factory.img'), version: '1.0.0' },
      });
    return {
      platform: make(),
      restart: make,
      boot,
      readSlot: (slot: SlotName, length: number) => readHead(slots[slot], length),
      reboots: async () => (await readFile(rebootLog, 'utf8')).length,
      capacity: CAPACITY,
      trialBoots: 3,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  });
}
