// A Raspberry Pi booted by its own firmware, for tests: autoboot.txt on a real FAT image (mkfs.vfat, written and read
// with mtools), the firmware's device-tree cells (chosen/bootloader/partition and tryboot: big-endian u32) in a
// folder, boot_id, a watchdog in a fake sysfs, and a reboot command that logs its arguments. boot() is the firmware:
// after `reboot "0 tryboot"` it boots autoboot.txt's [tryboot] partition once, otherwise (any other reboot, a power
// cut, a watchdog reset) its [all] partition.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SlotName } from '../../agent/core/ports.js';
import { createPlatform } from '../../platform/registry.js';
import { readSimImageHeader } from '../../platform/simulator/image-header.js';
import { simImage, type PlatformFixture } from '../contract/platform.contract.js';

const run = promisify(execFile);
const CAPACITY = 1024 * 1024;
const MTOOLS = { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } };

export interface RpiBoard extends PlatformFixture {
  dir: string;
  fat: string;
  deviceTree: string;
  watchdog: string;
  stateFile: string;
  options: Record<string, unknown>;
  /** autoboot.txt as the firmware reads it */
  autoboot(): Promise<string>;
}

const cell = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

export async function makeRpiBoard(extra: Record<string, unknown> = {}): Promise<RpiBoard> {
  const dir = await mkdtemp(join(tmpdir(), 'fota-rpi-'));
  const slots = { A: join(dir, 'mmcblk0p2'), B: join(dir, 'mmcblk0p3') };
  await writeFile(slots.A, simImage('1.0.0'));
  await writeFile(slots.B, '');
  for (const s of [slots.A, slots.B]) await truncate(s, CAPACITY);
  await writeFile(join(dir, 'factory.img'), simImage('1.0.0', 32 * 1024));
  // partition 1: the FAT the firmware reads autoboot.txt from, as an image built like a real one
  const fat = join(dir, 'mmcblk0p1');
  await run('mkfs.vfat', ['-C', '-n', 'AUTOBOOT', fat, '8192']);
  const initial = join(dir, 'autoboot.txt');
  await writeFile(initial, '[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n');
  await run('mcopy', ['-i', fat, initial, '::autoboot.txt'], MTOOLS);
  const deviceTree = join(dir, 'chosen', 'bootloader');
  await mkdir(deviceTree, { recursive: true });
  const watchdog = join(dir, 'watchdog');
  await mkdir(join(watchdog, 'watchdog0'), { recursive: true });
  await writeFile(join(watchdog, 'watchdog0', 'state'), 'active\n');
  const bootId = join(dir, 'boot_id');
  const versionFile = join(dir, 'firmware-version');
  const rebootLog = join(dir, 'reboots');
  await writeFile(rebootLog, '');
  let consumed = 0;
  const autoboot = async () => (await run('mtype', ['-i', fat, '::autoboot.txt'], MTOOLS)).stdout;
  const section = (text: string, name: string): number | undefined => {
    const m = new RegExp(`\\[${name}\\][^[]*?boot_partition=(\\d+)`).exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const boot = async () => {
    const requests = (await readFile(rebootLog, 'utf8')).split('\n').filter(Boolean);
    const last = requests.length > consumed ? (JSON.parse(requests[requests.length - 1]!) as string[]) : [];
    consumed = requests.length;
    const text = await autoboot();
    const tryboot = last.includes('0 tryboot');
    const partition = (tryboot ? section(text, 'tryboot') : section(text, 'all')) ?? 1;
    const slot: SlotName = partition === 2 ? 'A' : partition === 3 ? 'B' : (() => { throw new Error(`the firmware would boot partition ${partition}`); })();
    await writeFile(join(deviceTree, 'partition'), cell(partition));
    await writeFile(join(deviceTree, 'tryboot'), cell(tryboot ? 1 : 0));
    await writeFile(bootId, `${randomUUID()}\n`);
    await writeFile(versionFile, `${(await readSimImageHeader(slots[slot])).version}\n`);
    return { slot, trial: tryboot && partition !== section(text, 'all') };
  };
  await boot();
  const stateFile = join(dir, 'state', 'rpi-tryboot.json');
  await mkdir(join(dir, 'state'));
  const options = {
    slots,
    autoboot: { device: fat },
    deviceTree,
    stateFile,
    firmwareVersionFile: versionFile,
    rebootCommand: [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(rebootLog)}, JSON.stringify(process.argv.slice(1)) + '\\n')`],
    factoryImage: { path: join(dir, 'factory.img'), version: '1.0.0' },
    system: { cmdline: join(dir, 'cmdline'), mountinfo: join(dir, 'no-mountinfo'), bootId, watchdog },
    ...extra,
  };
  const make = () => createPlatform('rpi-tryboot', options);
  return {
    dir,
    fat,
    deviceTree,
    watchdog,
    stateFile,
    options,
    autoboot,
    platform: make(),
    restart: make,
    boot,
    readSlot: async (slot: SlotName, length: number) => (await readFile(slots[slot])).subarray(0, length),
    reboots: async () => (await readFile(rebootLog, 'utf8')).split('\n').filter(Boolean).length,
    capacity: CAPACITY,
    trialBoots: 1,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
