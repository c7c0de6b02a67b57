// A simulated device is a folder: two sparse slot files, a redundant U-Boot environment (uboot.env + fw_env.config,
// so the real fw_printenv can inspect it), the factory image, device.json and run/boot.json (the simulated
// /proc/cmdline). device.json is written last: a folder without it is an unfinished creation and is redone.

import { copyFile, mkdir, open, readFile, rename, stat, truncate, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { initialEnv, DEFAULT_BOOTLIMIT } from '../uboot/ab-scheme.js';
import { createEnvFile, FileBootEnv, syncDir } from '../uboot/file-boot-env.js';
import { formatFwEnvConfig, type EnvLocation } from '../uboot/fw-env-config.js';
import { SIM_DEFAULT_IMAGE_SIZE, SIM_DEFAULT_SLOT_CAPACITY, SIM_DEVICE_TYPE, SIM_ENV_SIZE, SIM_FILES } from './constants.js';
import { makeSimImage, SIM_HEADER_SIZE } from './image-header.js';

export interface SimDeviceInfo {
  format: 1;
  id: string;
  deviceType: string;
  /** ISO 8601 */
  createdAt: string;
  /** bytes per slot file */
  slotCapacity: number;
}

export interface SimPaths {
  dir: string;
  device: string;
  slots: { A: string; B: string };
  env: string;
  fwEnvConfig: string;
  factory: string;
  bootRecord: string;
  agentConfig: string;
  state: string;
}

export class SimDeviceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimDeviceError';
  }
}

/** Absolute paths of a device folder's files. */
export function simPaths(dir: string): SimPaths {
  const d = resolve(dir);
  return {
    dir: d,
    device: join(d, SIM_FILES.device),
    slots: { A: join(d, SIM_FILES.slotA), B: join(d, SIM_FILES.slotB) },
    env: join(d, SIM_FILES.env),
    fwEnvConfig: join(d, SIM_FILES.fwEnvConfig),
    factory: join(d, SIM_FILES.factory),
    bootRecord: join(d, SIM_FILES.bootRecord),
    agentConfig: join(d, SIM_FILES.agentConfig),
    state: join(d, SIM_FILES.state),
  };
}

/** The two copies of the simulated environment, back to back in uboot.env. */
export function simEnvLocations(dir: string): [EnvLocation, EnvLocation] {
  const env = simPaths(dir).env;
  return [
    { path: env, offset: 0, size: SIM_ENV_SIZE },
    { path: env, offset: SIM_ENV_SIZE, size: SIM_ENV_SIZE },
  ];
}

/** The device's U-Boot environment, natively. */
export function simBootEnv(dir: string): FileBootEnv {
  return new FileBootEnv(simEnvLocations(dir));
}

/** Reads device.json. Throws SimDeviceError when `dir` is not a (finished) device folder. */
export async function readSimDevice(dir: string): Promise<SimDeviceInfo> {
  const file = simPaths(dir).device;
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new SimDeviceError(`${resolve(dir)} is not a simulated device (${file}: ${(e as Error).message}); create it with: fota sim run --dir ${dir} ...`);
  }
  const info = raw as Partial<SimDeviceInfo>;
  if (info.format !== 1 || typeof info.id !== 'string' || typeof info.deviceType !== 'string' || typeof info.slotCapacity !== 'number')
    throw new SimDeviceError(`${file} is not a simulated device description (format 1 with id, deviceType, slotCapacity)`);
  return info as SimDeviceInfo;
}

export interface CreateSimDeviceOptions {
  dir: string;
  id: string;
  /** default fota-sim */
  deviceType?: string;
  /** firmware version of the image generated for slot A (default 1.0.0) */
  version?: string;
  /** size of that image in bytes (default 4 MiB) */
  imageSize?: number;
  /** bytes per slot (default 256 MiB, at least the image size rounded up to 1 MiB); an existing device's slots grow to it */
  slotCapacity?: number;
}

const MiB = 1024 * 1024;

/**
 * Opens the device folder, creating it on first use (slot A = a generated image of `version`, committed).
 * Throws SimDeviceError when the folder belongs to another device id or the image does not fit a slot.
 */
export async function ensureSimDevice(opts: CreateSimDeviceOptions): Promise<{ info: SimDeviceInfo; created: boolean; paths: SimPaths }> {
  const paths = simPaths(opts.dir);
  const existing = await readSimDevice(opts.dir).catch(() => undefined);
  if (existing) {
    if (existing.id !== opts.id) throw new SimDeviceError(`${paths.dir} is device "${existing.id}", not "${opts.id}" (use another --dir)`);
    if (opts.slotCapacity !== undefined && opts.slotCapacity > existing.slotCapacity) {
      // growing a sparse file is safe: the new tail reads as zeros and no image ends there
      for (const slot of [paths.slots.A, paths.slots.B]) await truncate(slot, opts.slotCapacity);
      existing.slotCapacity = opts.slotCapacity;
      await writeJsonAtomic(paths.device, existing);
    }
    return { info: existing, created: false, paths };
  }
  const imageSize = opts.imageSize ?? SIM_DEFAULT_IMAGE_SIZE;
  const slotCapacity = opts.slotCapacity ?? Math.max(SIM_DEFAULT_SLOT_CAPACITY, Math.ceil(imageSize / MiB) * MiB);
  if (imageSize < SIM_HEADER_SIZE || imageSize > slotCapacity) throw new SimDeviceError(`the initial image (${imageSize} bytes) must fit a slot (${slotCapacity} bytes)`);
  await mkdir(join(paths.dir, 'run'), { recursive: true });
  await makeSimImage({ version: opts.version ?? '1.0.0', size: imageSize, out: paths.factory });
  await copyFile(paths.factory, paths.slots.A);
  await truncate(paths.slots.A, slotCapacity);
  await writeFile(paths.slots.B, new Uint8Array(0));
  await truncate(paths.slots.B, slotCapacity);
  await createEnvFile(paths.env, initialEnv(DEFAULT_BOOTLIMIT), { size: SIM_ENV_SIZE, redundant: true });
  await writeFile(paths.fwEnvConfig, formatFwEnvConfig(simEnvLocations(paths.dir)));
  const info: SimDeviceInfo = { format: 1, id: opts.id, deviceType: opts.deviceType ?? SIM_DEVICE_TYPE, createdAt: new Date().toISOString(), slotCapacity };
  await writeJsonAtomic(paths.device, info);
  return { info, created: true, paths };
}

/** Writes JSON atomically: temp file, fsync, rename, fsync of the folder. `mode` (default 0644) is set exactly, umask aside. */
export async function writeJsonAtomic(file: string, value: unknown, mode = 0o644): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.chmod(mode); // a leftover temp file keeps its old mode otherwise
    await fh.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await syncDir(resolve(file, '..'));
}

/** True when `dir` holds a finished simulated device. */
export async function isSimDevice(dir: string): Promise<boolean> {
  return stat(simPaths(dir).device).then(
    (s) => s.isFile(),
    () => false,
  );
}
