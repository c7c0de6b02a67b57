// Firmware images for the virtual board, made from a slot image with debugfs and mkfs.ext4 -d (e2fsprogs: no mount):
// a new /etc/fota/firmware-version, or a broken system whose init dies at once (the kernel panics: "Attempted to kill
// init", and panic=2 in bootargs resets the board).
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DISK } from '../image/layout.js';

const run = promisify(execFile);

/**
 * The files of a slot that boot as far as PID 1: the slot's own kernel and initramfs (U-Boot loads them from the
 * slot), and /bin/false with what it links to, for init. Merged /usr: the top-level names are symlinks.
 */
const BROKEN_FILES = ['/boot/vmlinuz', '/boot/initrd.img', '/usr/bin/false', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'];
const BROKEN_LINKS: [string, string][] = [['bin', 'usr/bin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64'], ['sbin', 'usr/sbin'], ['usr/lib64/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'], ['usr/sbin/init', '/bin/false']];

/**
 * A broken firmware image as a vendor's bad build would be: a slot that U-Boot boots (its own kernel and initramfs)
 * and whose init exits at once (/usr/sbin/init is /bin/false: PID 1 dies, the kernel panics). Only those files:
 * ~17 MB instead of the 252 MiB system, so the agent in the guest (TCG) downloads, hashes and writes a fifth of
 * the bytes, and the rollback scenario spends its time on the three trial boots it is about.
 */
async function makeBrokenImage(base: string, out: string, version: string, tmp: string): Promise<void> {
  const tree = join(tmp, 'tree');
  for (const d of ['boot', 'usr/bin', 'usr/sbin', 'usr/lib/x86_64-linux-gnu', 'usr/lib64', 'etc/fota', 'dev', 'proc', 'sys', 'run', 'tmp']) await mkdir(join(tree, d), { recursive: true });
  const script = join(tmp, 'dump');
  await writeFile(script, BROKEN_FILES.map((f) => `dump -p ${f} ${join(tree, f)}`).join('\n') + '\n');
  await run('debugfs', ['-f', script, base]);
  for (const f of BROKEN_FILES) if (!(await stat(join(tree, f)).catch(() => undefined))?.size) throw new Error(`debugfs could not read ${f} from ${base}`);
  for (const [at, to] of BROKEN_LINKS) await symlink(to, join(tree, at));
  await writeFile(join(tree, 'etc/fota/firmware-version'), `${version}\n`);
  await run('mkfs.ext4', ['-q', '-F', '-L', 'rootfs', '-b', '4096', '-d', tree, out, '40M']);
  // the initramfs runs no udev (customize.sh), so it does not move its devtmpfs over: run-init opens the root's own
  // /dev/console (without it: "run-init: opening console", "No init found" and a reboot, not init dying)
  // (debugfs's mknod takes a name in the current folder and leaves the mode bits 0: set them as mmdebstrap does)
  await writeFile(script, 'cd /dev\nmknod console c 5 1\nmknod null c 1 3\nsif console mode 020666\nsif null mode 020666\n');
  await run('debugfs', ['-w', '-f', script, out]);
  const { stdout } = await run('debugfs', ['-R', 'stat /dev/console', out]);
  if (!/Type: character special\s+Mode:\s+0666/.test(stdout)) throw new Error(`debugfs did not make /dev/console in ${out}`);
}

/** Copies the ext4 slot image `base` to `out` with firmware version `version` (or makes a broken one from it). */
export async function makeSlotImage(base: string, out: string, opts: { version: string; broken?: boolean }): Promise<void> {
  if (opts.broken) {
    const tmp = await mkdtemp(join(tmpdir(), 'fota-hil-broken-'));
    try {
      return await makeBrokenImage(base, out, opts.version, tmp);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  await run('cp', ['--sparse=always', base, out]);
  const tmp = await mkdtemp(join(tmpdir(), 'fota-hil-img-'));
  try {
    const version = join(tmp, 'firmware-version');
    await writeFile(version, `${opts.version}\n`);
    const cmds = ['rm /etc/fota/firmware-version', `write ${version} /etc/fota/firmware-version`];
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
