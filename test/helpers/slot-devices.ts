// Slots for tests: a loop device over a temp file where the machine allows it (root and losetup), a plain file
// otherwise; and the bytes written to it, from /sys/block/NAME/stat (a loop device: what reached the device) or
// /proc/self/io write_bytes (a file: what this process wrote, including libuv's threads).
import { execFile } from 'node:child_process';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestSlot {
  /** what a platform writes: /dev/loopN, or the backing file itself */
  path: string;
  /** the file behind it */
  file: string;
  loop: boolean;
  /** bytes written to the slot since the last call (the first call starts the count) */
  writtenSince(): Promise<number>;
  release(): Promise<void>;
}

async function sysfsWrittenBytes(dev: string): Promise<number> {
  // /sys/block/NAME/stat field 7: sectors written, in 512-byte units whatever the device's block size
  const fields = (await readFile(`/sys/block/${basename(dev)}/stat`, 'utf8')).trim().split(/\s+/);
  return Number(fields[6]) * 512;
}

async function processWriteBytes(): Promise<number> {
  return Number(/write_bytes:\s*(\d+)/.exec(await readFile('/proc/self/io', 'utf8'))?.[1] ?? NaN);
}

/** A file of `size` bytes (sparse), behind a loop device when `loop` is not false and losetup works. */
export async function makeTestSlot(file: string, size: number, opts: { loop?: boolean; content?: Buffer } = {}): Promise<TestSlot> {
  await writeFile(file, opts.content ?? '');
  await truncate(file, size);
  let dev: string | undefined;
  if (opts.loop !== false) dev = await run('losetup', ['-f', '--show', file]).then((r) => r.stdout.trim(), () => undefined);
  const counter = dev ? () => sysfsWrittenBytes(dev) : processWriteBytes;
  let last = await counter();
  return {
    path: dev ?? file,
    file,
    loop: dev !== undefined,
    async writtenSince() {
      const now = await counter();
      const d = now - last;
      last = now;
      return d;
    },
    async release() {
      if (dev) await run('losetup', ['-d', dev]).catch(() => undefined);
      await rm(file, { force: true });
    },
  };
}

/** Whether this machine can attach loop devices (root + losetup + /dev/loop-control). */
export async function loopDevicesWork(): Promise<boolean> {
  return run('losetup', ['-f']).then(
    () => process.getuid?.() === 0,
    () => false,
  );
}
