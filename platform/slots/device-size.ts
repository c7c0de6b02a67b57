// The size in bytes of a slot or environment target: a regular file's length, or a block device's size
// (the BLKGETSIZE64 figure, read from sysfs because Node has no ioctl: /sys/dev/block/MAJ:MIN/size counts
// 512-byte sectors whatever the device's logical block size).

import { execFile } from 'node:child_process';
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename } from 'node:path';

/** glibc gnu_dev_major / gnu_dev_minor on a 64-bit dev_t. */
function majorMinor(rdev: bigint): [bigint, bigint] {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return [major, minor];
}

async function sectorsFile(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined || !/^\d+\s*$/.test(text)) return undefined;
  return Number(text.trim()) * 512;
}

function blockdevGetsize64(path: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    execFile('blockdev', ['--getsize64', path], { timeout: 5000 }, (err, stdout) => {
      const n = Number(String(stdout).trim());
      resolve(err || !Number.isSafeInteger(n) ? undefined : n);
    });
  });
}

/**
 * Bytes addressable at `path`. Throws an Error saying what `path` is when it is neither a regular file nor a
 * block device, or when the size of a block device cannot be found.
 */
export async function deviceSize(path: string): Promise<number> {
  const st = await stat(path, { bigint: true });
  if (st.isFile()) return Number(st.size);
  if (!st.isBlockDevice()) throw new Error(`${path} is neither a regular file nor a block device`);
  const [major, minor] = majorMinor(st.rdev);
  const size =
    (await sectorsFile(`/sys/dev/block/${major}:${minor}/size`)) ??
    (await sectorsFile(`/sys/class/block/${basename(await realpath(path))}/size`)) ??
    (await blockdevGetsize64(path));
  if (size === undefined) throw new Error(`cannot find the size of block device ${path} (no sysfs entry, blockdev failed)`);
  return size;
}
