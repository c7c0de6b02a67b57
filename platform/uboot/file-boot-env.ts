// FileBootEnv: the U-Boot environment read and written natively on a file or raw partition (no fw_* tools).
// Writes go in place (a partition cannot be renamed), then fsync. With two copies it writes the stale one with
// the next flag value, so a power cut mid-write leaves the current copy intact (U-Boot picks the valid one).
// Not locked against a concurrent fw_setenv (libubootenv's flock is not reachable from Node); one process at a time.

import { open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { BootEnvError, checkVarName, type BootEnv } from './boot-env.js';
import { currentCopy, EnvFormatError, fromRaw, headerSize, isValidCopy, parseEnvData, serializeEnvImage, toRaw, type RawVars } from './env-format.js';
import { parseFwEnvConfig, type EnvLocation } from './fw-env-config.js';
import { deviceSize } from '../slots/device-size.js';

type Locations = readonly [EnvLocation] | readonly [EnvLocation, EnvLocation];

interface Loaded {
  images: Uint8Array[];
  current: 0 | 1 | -1;
  flags: number;
}

export class FileBootEnv implements BootEnv {
  private queue: Promise<unknown> = Promise.resolve();

  /** One location (single copy) or two (redundant copies of equal size). */
  constructor(readonly locations: Locations) {
    if (locations.length === 2 && locations[0].size !== locations[1].size) throw new BootEnvError('invalid', 'the two environment copies must have the same size');
  }

  /** The environment described by an fw_env.config file (the same bytes fw_printenv reads). Throws BootEnvError. */
  static async fromConfigFile(configPath: string): Promise<FileBootEnv> {
    let text: string;
    try {
      text = await readFile(configPath, 'utf8');
    } catch (e) {
      throw new BootEnvError('io', `cannot read the fw_env configuration ${configPath}: ${(e as Error).message}`, { cause: e });
    }
    try {
      return new FileBootEnv(parseFwEnvConfig(text));
    } catch (e) {
      throw new BootEnvError('invalid', `${configPath}: ${(e as Error).message}`, { cause: e });
    }
  }

  get redundant(): boolean {
    return this.locations.length === 2;
  }

  read(): Promise<Record<string, string>> {
    return this.serial(async () => {
      const loaded = await this.load();
      if (loaded.current < 0) throw this.badCrc();
      return toText(parseEnvData(loaded.images[loaded.current]!.subarray(headerSize(this.redundant))));
    });
  }

  write(vars: Record<string, string | null>): Promise<void> {
    return this.serial(async () => {
      for (const [name, value] of Object.entries(vars)) {
        checkVarName(name);
        if (value !== null && value.includes('\0')) throw new BootEnvError('invalid', `the value of ${name} contains a NUL byte`);
      }
      const loaded = await this.load();
      if (loaded.current < 0) throw this.badCrc();
      const raw = parseEnvData(loaded.images[loaded.current]!.subarray(headerSize(this.redundant)));
      const before = new Map(raw);
      for (const [name, value] of Object.entries(vars)) {
        if (value === null || value === '') raw.delete(toRaw(name));
        else raw.set(toRaw(name), toRaw(value));
      }
      if (sameVars(before, raw)) return; // nothing changes: spare the flash a write
      const target = this.redundant ? (loaded.current === 0 ? 1 : 0) : 0;
      const location = this.locations[target]!;
      let image: Uint8Array;
      try {
        image = serializeEnvImage(raw, { size: location.size, redundant: this.redundant, flags: (loaded.flags + 1) & 0xff });
      } catch (e) {
        const full = e instanceof EnvFormatError && e.reason === 'too-large';
        throw new BootEnvError(full ? 'full' : 'invalid', (e as Error).message, { cause: e });
      }
      await this.writeCopy(location, image);
    });
  }

  private badCrc(): BootEnvError {
    const where = this.locations.map((l) => `${l.path}@0x${l.offset.toString(16)}`).join(' and ');
    return new BootEnvError('bad-crc', `no valid U-Boot environment at ${where} (bad CRC): U-Boot boots with its built-in defaults; restore the environment (fw_setenv or mkenvimage) before updating`);
  }

  private async load(): Promise<Loaded> {
    const images: Uint8Array[] = [];
    for (const loc of this.locations) images.push(await readCopy(loc));
    if (!this.redundant) {
      return { images, current: isValidCopy(images[0]!, false) ? 0 : -1, flags: 0 };
    }
    const copies = images.map((img) => ({ valid: isValidCopy(img, true), flags: img[4]! })) as [{ valid: boolean; flags: number }, { valid: boolean; flags: number }];
    const current = currentCopy(copies);
    return { images, current, flags: current === -1 ? 0 : copies[current].flags };
  }

  private async writeCopy(loc: EnvLocation, image: Uint8Array): Promise<void> {
    let fh: FileHandle | undefined;
    try {
      fh = await open(loc.path, 'r+'); // never O_TRUNC: the env may share a device with other data
      const at = await absoluteOffset(loc);
      let done = 0;
      while (done < image.length) done += (await fh.write(image, done, image.length - done, at + done)).bytesWritten;
      await fh.sync();
    } catch (e) {
      throw new BootEnvError('io', `cannot write the U-Boot environment at ${loc.path}: ${(e as Error).message}`, { cause: e });
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }

  private serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

async function absoluteOffset(loc: EnvLocation): Promise<number> {
  return loc.offset >= 0 ? loc.offset : (await deviceSize(loc.path)) + loc.offset;
}

async function readCopy(loc: EnvLocation): Promise<Uint8Array> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(loc.path, 'r');
    const at = await absoluteOffset(loc);
    const buf = new Uint8Array(loc.size);
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await fh.read(buf, done, buf.length - done, at + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    // a short read leaves zeros: the CRC then fails and the copy counts as invalid, as in libubootenv
    return buf;
  } catch (e) {
    throw new BootEnvError('io', `cannot read the U-Boot environment at ${loc.path}: ${(e as Error).message}`, { cause: e });
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

function sameVars(a: RawVars, b: RawVars): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function toText(raw: RawVars): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of raw) out[fromRaw(k)] = fromRaw(v);
  return out;
}

/**
 * Creates a new environment file holding `vars` (atomically: temp file, fsync, rename). With `redundant`, the file
 * holds two copies back to back (copy 0 current, flag 1); returns the locations to give FileBootEnv / fw_env.config.
 */
export async function createEnvFile(path: string, vars: Record<string, string>, opts: { size: number; redundant: boolean }): Promise<Locations> {
  const raw: RawVars = new Map();
  for (const [k, v] of Object.entries(vars)) {
    checkVarName(k);
    if (v !== '') raw.set(toRaw(k), toRaw(v));
  }
  let copy0: Uint8Array;
  let copy1: Uint8Array | undefined;
  try {
    copy0 = serializeEnvImage(raw, { size: opts.size, redundant: opts.redundant, flags: 1 });
    if (opts.redundant) copy1 = serializeEnvImage(raw, { size: opts.size, redundant: true, flags: 0 });
  } catch (e) {
    throw new BootEnvError('invalid', (e as Error).message, { cause: e });
  }
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  const fh = await open(tmp, 'w');
  try {
    await fh.write(copy0, 0, copy0.length, 0);
    if (copy1) await fh.write(copy1, 0, copy1.length, copy0.length);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await syncDir(dirname(path));
  const first: EnvLocation = { path, offset: 0, size: opts.size };
  return opts.redundant ? [first, { path, offset: opts.size, size: opts.size }] : [first];
}

/** fsync a directory so a rename in it is durable (best effort: some filesystems refuse). */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  await fh.sync().catch(() => undefined);
  await fh.close().catch(() => undefined);
}
