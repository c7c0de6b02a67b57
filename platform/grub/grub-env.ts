// GrubEnv: GRUB's environment block (grubenv, 1024 bytes) through the real grub-editenv, run with execFile. A write
// edits a copy next to the file and renames it over the original (fsync of the copy and of the folder), so a power cut
// leaves the old block or the new one, never a half-written one: grub-editenv itself rewrites the file in place.
// GRUB reads the block at boot with load_env and writes it back with save_env (docs/platforms.md).

import { execFile } from 'node:child_process';
import { copyFile, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BootEnvError, checkVarName, type BootEnv } from '../uboot/boot-env.js';

export interface GrubEnvOptions {
  /** the grubenv file GRUB's load_env reads (default /boot/grub/grubenv) */
  file: string;
  /** the tool (default "grub-editenv"; "grub2-editenv" on some distributions) */
  tool?: string;
  timeoutMs?: number;
}

async function fsyncPath(path: string, flags: string): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class GrubEnv implements BootEnv {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: GrubEnvOptions) {}

  read(): Promise<Record<string, string>> {
    return this.serial(async () => parseList(await this.run(this.opts.file, ['list'])));
  }

  write(vars: Record<string, string | null>): Promise<void> {
    return this.serial(async () => {
      const set: string[] = [];
      const unset: string[] = [];
      for (const [name, value] of Object.entries(vars)) {
        checkVarName(name);
        if (value !== null && /[\n\r\0]/.test(value)) throw new BootEnvError('invalid', `the value of ${name} contains a line break or NUL, which grubenv cannot carry`);
        if (value === null || value === '') unset.push(name);
        else set.push(`${name}=${value}`);
      }
      if (set.length + unset.length === 0) return;
      await this.run(this.opts.file, ['list']); // a broken block is reported, never silently replaced
      const file = this.opts.file;
      const tmp = join(dirname(file), `.${basename(file)}.fota-new`);
      try {
        await copyFile(file, tmp);
        if (set.length > 0) await this.run(tmp, ['set', ...set]);
        if (unset.length > 0) await this.run(tmp, ['unset', ...unset]);
        await fsyncPath(tmp, 'r+');
        await rename(tmp, file);
        await fsyncPath(dirname(file), 'r');
      } catch (e) {
        await rm(tmp, { force: true });
        if (e instanceof BootEnvError) throw e;
        throw new BootEnvError('io', `cannot write ${file}: ${(e as Error).message}`, { cause: e });
      }
    });
  }

  private run(file: string, args: string[]): Promise<string> {
    const tool = this.opts.tool ?? 'grub-editenv';
    return new Promise((resolve, reject) => {
      execFile(tool, [file, ...args], { timeout: this.opts.timeoutMs ?? 10_000, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        if ((err as { code?: unknown }).code === 'ENOENT') return reject(new BootEnvError('io', `${tool} not found: install grub-common (or set grubEditenv)`, { cause: err }));
        const detail = String(stderr).trim() || err.message;
        // "invalid environment block": not a grubenv (truncated, overwritten) — GRUB's load_env fails the same way
        reject(new BootEnvError(/invalid environment block/i.test(detail) ? 'bad-crc' : 'io', `${tool} ${file} ${args[0]} failed: ${detail}`, { cause: err }));
      });
    });
  }

  private serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** `grub-editenv FILE list` output: one name=value per line. */
export function parseList(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}
