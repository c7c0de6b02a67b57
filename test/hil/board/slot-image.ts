// Firmware images for the virtual board, made from a slot image with debugfs (e2fsprogs: no mount): a new
// /etc/fota/firmware-version, or a broken system whose init dies at once (the kernel panics: "Attempted to kill
// init", and panic=2 in bootargs resets the board).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DISK } from '../image/layout.js';

const run = promisify(execFile);

/** Copies the ext4 slot image `base` to `out` with firmware version `version` (and a dying init when `broken`). */
export async function makeSlotImage(base: string, out: string, opts: { version: string; broken?: boolean }): Promise<void> {
  await run('cp', ['--sparse=always', base, out]);
  const tmp = await mkdtemp(join(tmpdir(), 'fota-hil-img-'));
  try {
    const version = join(tmp, 'firmware-version');
    await writeFile(version, `${opts.version}\n`);
    const cmds = ['rm /etc/fota/firmware-version', `write ${version} /etc/fota/firmware-version`];
    // merged /usr: /sbin is a symlink, so the real path; /bin/false exits 1 and PID 1 dying panics the kernel
    if (opts.broken) cmds.push('rm /usr/sbin/init', 'symlink /usr/sbin/init /bin/false');
    const script = join(tmp, 'cmds');
    await writeFile(script, `${cmds.join('\n')}\n`);
    await run('debugfs', ['-w', '-f', script, out]);
    // debugfs reports failed commands on stderr but exits 0: check the result instead
    const { stdout } = await run('debugfs', ['-R', 'cat /etc/fota/firmware-version', out]);
    if (stdout.trim() !== opts.version) throw new Error(`debugfs did not write the firmware version into ${out} (read back "${stdout.trim()}")`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Byte offset of slot A or B in the board's disk. */
export function slotOffset(slot: 'A' | 'B'): number {
  const p = DISK.partitions().find((x) => x.name === slot);
  if (!p) throw new Error(`no slot ${slot}`);
  return p.startMiB * 1024 * 1024;
}

/**
 * Reads the file system in a slot of a powered-off board's disk into a file: the slot as the device wrote it, sized
 * to its file system (not the partition) and with every free block zero (`e2image -ra`: used blocks only, the rest
 * holes), so a package made from it carries no stale data and compresses to what the files hold.
 */
export async function readSlot(disk: string, slot: 'A' | 'B', out: string): Promise<void> {
  await run('e2image', ['-ra', '-o', String(slotOffset(slot)), disk, out]);
}
