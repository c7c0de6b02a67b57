// Simulated images and device folders on real files: deterministic incompressible images, device creation,
// the environment readable by the real fw_printenv, boot records, and slot growth.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootOnce, readBootRecord } from '../../platform/simulator/bootloader.js';
import { ensureSimDevice, readSimDevice, simBootEnv, simPaths, SimDeviceError } from '../../platform/simulator/device-dir.js';
import { makeSimImage, readSimImageHeader, SIM_HEADER_SIZE } from '../../platform/simulator/image-header.js';
import { parsePrintenv } from '../../platform/uboot/fw-tools-boot-env.js';

const run = promisify(execFile);

describe('simulated devices on disk', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fota-simdev-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makeSimImage writes exactly SIZE bytes, reproducibly, and the content does not compress', async () => {
    const size = 3 * 1024 * 1024 + 123;
    const a = join(dir, 'a.img');
    const b = join(dir, 'b.img');
    const c = join(dir, 'c.img');
    expect(await makeSimImage({ version: '2.0.0', size, out: a })).toEqual({ version: '2.0.0', size, broken: false });
    await makeSimImage({ version: '2.0.0', size, out: b });
    await makeSimImage({ version: '2.0.1', size, out: c });
    const [ba, bb, bc] = await Promise.all([readFile(a), readFile(b), readFile(c)]);
    expect(ba.length).toBe(size);
    expect(Buffer.compare(ba, bb)).toBe(0);
    expect(Buffer.compare(ba.subarray(SIM_HEADER_SIZE, SIM_HEADER_SIZE + 4096), bc.subarray(SIM_HEADER_SIZE, SIM_HEADER_SIZE + 4096))).not.toBe(0);
    expect(gzipSync(ba.subarray(SIM_HEADER_SIZE)).length).toBeGreaterThan((size - SIM_HEADER_SIZE) * 0.99);
    expect(await readSimImageHeader(a)).toEqual({ version: '2.0.0', size, broken: false });
  });

  it('creates a device folder on first use: slot A = the factory image, committed, env readable by fw_printenv', async () => {
    const { info, created, paths } = await ensureSimDevice({ dir, id: 'dev1', version: '1.2.3', imageSize: 128 * 1024, slotCapacity: 2 * 1024 * 1024 });
    expect(created).toBe(true);
    expect(info).toMatchObject({ format: 1, id: 'dev1', deviceType: 'fota-sim', slotCapacity: 2 * 1024 * 1024 });
    expect(await readSimDevice(dir)).toEqual(info);
    expect((await stat(paths.slots.A)).size).toBe(2 * 1024 * 1024);
    expect((await stat(paths.slots.B)).size).toBe(2 * 1024 * 1024);
    expect(await readSimImageHeader(paths.slots.A)).toEqual({ version: '1.2.3', size: 128 * 1024, broken: false });
    expect(await readSimImageHeader(paths.factory)).toEqual({ version: '1.2.3', size: 128 * 1024, broken: false });
    const factory = await readFile(paths.factory);
    expect(Buffer.compare((await readFile(paths.slots.A)).subarray(0, factory.length), factory)).toBe(0);
    const { stdout } = await run('fw_printenv', ['-c', paths.fwEnvConfig]);
    expect(parsePrintenv(stdout)).toMatchObject({ boot_part: 'A', upgrade_available: '0', bootcount: '0', bootlimit: '3' });
    expect(await simBootEnv(dir).read()).toEqual(parsePrintenv(stdout));
  });

  it('reopens an existing device, refuses another id, and grows slots on request', async () => {
    await ensureSimDevice({ dir, id: 'dev1', imageSize: 64 * 1024, slotCapacity: 1024 * 1024 });
    const again = await ensureSimDevice({ dir, id: 'dev1', version: '9.9.9', slotCapacity: 4 * 1024 * 1024 });
    expect(again.created).toBe(false);
    expect(again.info.slotCapacity).toBe(4 * 1024 * 1024);
    expect((await stat(simPaths(dir).slots.B)).size).toBe(4 * 1024 * 1024);
    expect(await readSimImageHeader(simPaths(dir).slots.A)).toMatchObject({ version: '1.0.0' });
    await expect(ensureSimDevice({ dir, id: 'dev2' })).rejects.toThrow(SimDeviceError);
    await expect(ensureSimDevice({ dir, id: 'dev2' })).rejects.toThrow(/is device "dev1"/);
  });

  it('refuses a first image larger than the slots', async () => {
    await expect(ensureSimDevice({ dir, id: 'dev1', imageSize: 2 * 1024 * 1024, slotCapacity: 1024 * 1024 })).rejects.toThrow(/must fit a slot/);
  });

  it('bootOnce records each boot in run/boot.json; fw_setenv arming from the host is honoured', async () => {
    await ensureSimDevice({ dir, id: 'dev1', imageSize: 64 * 1024, slotCapacity: 1024 * 1024 });
    expect(await bootOnce(dir)).toMatchObject({ seq: 1, slot: 'A', trial: false, version: '1.0.0', broken: false });
    // an empty slot B armed by hand with the real fw_setenv: the simulated kernel finds no image there
    await run('fw_setenv', ['-c', simPaths(dir).fwEnvConfig, 'boot_part', 'B', 'upgrade_available', '1', 'bootcount', '0']);
    const r = await bootOnce(dir);
    expect(r).toMatchObject({ seq: 2, slot: 'B', trial: true, bootcount: 1, broken: true, version: '' });
    expect(r.brokenReason).toMatch(/no bootable image/);
    expect(await readBootRecord(dir)).toEqual(r);
  });

  it('a device whose environment is corrupted boots A with U-Boot defaults', async () => {
    await ensureSimDevice({ dir, id: 'dev1', imageSize: 64 * 1024, slotCapacity: 1024 * 1024 });
    const env = simPaths(dir).env;
    const bytes = await readFile(env);
    bytes.fill(0x55, 10, 20);
    bytes.fill(0x55, 0x4000 + 10, 0x4000 + 20);
    await writeFile(env, bytes);
    expect(await bootOnce(dir)).toMatchObject({ slot: 'A', trial: false, envDefaults: true });
  });
});
