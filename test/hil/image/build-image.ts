// Builds the virtual board's disk from Debian packages (mmdebstrap, mkfs.ext4 -d, mkfs.vfat + mcopy, sfdisk: no
// loop device, no mount of the image), cached in a folder keyed by every input. Needs root (mmdebstrap's root mode
// and ownership in the rootfs tree), as CI has. Layout and why: docs/hardware-in-the-loop.md.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ALTBOOTCMD } from '../../../platform/uboot/ab-scheme.js';
import { serializeEnvImage } from '../../../platform/uboot/env-format.js';
import { DISK, ENV, type HilImage } from './layout.js';

const run = promisify(execFile);
const HERE = new URL('.', import.meta.url).pathname;

/** What the rootfs holds besides minbase: what a Raspberry Pi OS Lite board has that fota needs. */
export const PACKAGES = [
  'systemd', 'systemd-sysv', 'udev', 'dbus', 'openssh-server', 'libubootenv-tool', 'nodejs',
  'linux-image-amd64', 'initramfs-tools', 'kmod', 'iproute2', 'procps', 'e2fsprogs',
] as const;

const MIRRORS = [
  'deb http://deb.debian.org/debian bookworm main',
  'deb http://deb.debian.org/debian bookworm-updates main',
  'deb http://deb.debian.org/debian-security bookworm-security main',
];

// Only the kernel modules this board loads (the generic kernel's 400 MB of modules would not fit a slot):
// virtio disk/net, ext4 and what it needs, and the i6300esb watchdog (the cloud kernel has no watchdog driver).
const K = '/lib/modules/*/kernel';
const MODULES = [
  'drivers/virtio/*', 'drivers/block/virtio_blk.ko*', 'drivers/net/virtio_net.ko*', 'drivers/net/net_failover.ko*',
  'net/core/failover.ko*', 'fs/ext4/*', 'fs/jbd2/*', 'fs/mbcache.ko*', 'lib/crc16.ko*', 'lib/libcrc32c.ko*',
  'crypto/crc32c_generic.ko*', 'arch/x86/crypto/crc32c-intel.ko*', 'drivers/watchdog/watchdog.ko*',
  'drivers/watchdog/i6300esb.ko*', 'drivers/char/hw_random/virtio-rng.ko*',
];

function dpkgOptions(): string[] {
  const opts = ['/usr/share/doc/*', '/usr/share/man/*', '/usr/share/locale/*', '/usr/share/info/*', `${K}/*`].map((p) => `--dpkgopt=path-exclude=${p}`);
  return [...opts, ...MODULES.map((m) => `--dpkgopt=path-include=${K}/${m}`)];
}

/** The environment a fresh board starts with (the project's A/B scheme, platform/uboot/ab-scheme.ts). */
export function initialVars(): Map<string, string> {
  // quiet: fewer console bytes under TCG (panics still print: KERN_EMERG)
  return new Map([['boot_part', 'A'], ['upgrade_available', '0'], ['bootcount', '0'], ['bootlimit', '3'], ['altbootcmd', ALTBOOTCMD], ['extra_bootargs', 'quiet']]);
}

/**
 * Debian's qemu-x86 U-Boot with two defaults of its built-in environment changed in place (same lengths): no
 * 2 s autoboot delay, and only the virtio disk as a boot target (not USB, SCSI, IDE and DHCP first: ~2.5 s
 * each boot). On a real board these come from the saved environment or CONFIG_BOOTDELAY/BOOT_TARGETS.
 */
export function patchUBoot(rom: Buffer): Buffer {
  const out = Buffer.from(rom);
  const swap = (from: string, to: string) => {
    const a = Buffer.from(from, 'latin1');
    const i = out.indexOf(a);
    if (i < 0 || out.indexOf(a, i + 1) >= 0 || to.length !== from.length) throw new Error(`u-boot.rom: "${from.replace('\0', '\\0')}" not found exactly once; the Debian package changed`);
    out.write(to, i, 'latin1');
  };
  swap('bootdelay=2\0', 'bootdelay=0\0');
  swap('boot_targets=usb0 scsi0 virtio0 ide0 dhcp \0', `boot_targets=virtio0${' '.repeat(22)}\0`);
  return out;
}

async function sh(file: string, args: string[], timeoutMs = 600_000): Promise<string> {
  try {
    const { stdout } = await run(file, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`${file} ${args.slice(0, 3).join(' ')}… failed: ${err.message}\n${(err.stderr ?? '').slice(-2000)}`, { cause: e });
  }
}

/** Copies `src` into `disk` at byte `offset` without writing the zero blocks (the disk stays sparse). */
async function place(disk: string, src: string, offset: number): Promise<void> {
  await sh('dd', [`if=${src}`, `of=${disk}`, 'bs=1M', `seek=${offset / (1024 * 1024)}`, 'conv=notrunc,sparse', 'status=none']);
}

/** The Debian tree mmdebstrap makes (minbase + PACKAGES, pruned modules), cached by its own inputs; built when missing. */
async function debianTree(root: string, log: (line: string) => void): Promise<string> {
  const key = createHash('sha256').update(JSON.stringify({ PACKAGES, MODULES, MIRRORS, variant: 'minbase' })).digest('hex').slice(0, 16);
  const dir = join(root, `debian-${key}`);
  if (existsSync(join(dir, 'ready'))) return join(dir, 'rootfs');
  for (const old of await readdir(root)) if (old.startsWith('debian-') && old !== `debian-${key}`) await rm(join(root, old), { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const t0 = Date.now();
  await sh('mmdebstrap', ['--variant=minbase', '--mode=root', `--include=${PACKAGES.join(',')}`, ...dpkgOptions(), '--aptopt=Acquire::Languages "none"', 'bookworm', join(dir, 'rootfs'), ...MIRRORS]);
  await writeFile(join(dir, 'ready'), `${new Date().toISOString()}\n`);
  log(`hil image: mmdebstrap done (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  return join(dir, 'rootfs');
}

/**
 * mkfs.ext4 options for a slot's file system sized to its tree, not to the partition: every byte of a slot image is
 * downloaded, inflated, hashed twice and written by the agent in the guest (~7 MB/s for SHA-256 under TCG on a
 * loaded host), so the slack costs time in every update. 4 KiB blocks and an inode count for the files there are
 * (mke2fs's "small" type would pick 1 KiB blocks and 20 MB of inode tables), a 4 MiB journal (not 16), and room for
 * what install.sh adds (~1 MB) and the system writes (the journal is in RAM: customize.sh).
 */
async function slotFs(tree: string): Promise<{ options: string[]; size: string }> {
  const usedKiB = Number((await sh('du', ['-sk', tree])).split('\t')[0]);
  const files = Number((await sh('du', ['-s', '--inodes', tree])).split('\t')[0]);
  const mib = Math.ceil((usedKiB / 1024) * 1.05) + 16;
  if (mib > DISK.slotMiB) throw new Error(`the rootfs needs a ${mib} MiB file system, more than a ${DISK.slotMiB} MiB slot (layout.ts)`);
  return { options: ['-T', 'default', '-b', '4096', '-N', String(files + 4096), '-J', 'size=4'], size: `${mib}M` };
}

/** Bump when the build steps below change in a way the other inputs do not show. */
const RECIPE = 2;

async function inputsKey(): Promise<string> {
  const h = createHash('sha256');
  h.update(JSON.stringify({ RECIPE, PACKAGES, MODULES, MIRRORS, DISK, ENV, vars: [...initialVars()] }));
  for (const f of ['customize.sh', 'boot.cmd']) h.update(await readFile(join(HERE, f)));
  h.update(await readFile('/usr/lib/u-boot/qemu-x86/u-boot.rom'));
  return h.digest('hex').slice(0, 16);
}

export function cacheRoot(): string {
  return process.env['FOTA_HIL_CACHE'] ?? join(homedir(), '.cache', 'fota-hil');
}

/** The image for the current inputs: built when missing (minutes), else found at once. */
export async function ensureImage(log: (line: string) => void = () => {}): Promise<HilImage> {
  if (process.getuid?.() !== 0) throw new Error('building the virtual board needs root (mmdebstrap root mode, file ownership in the rootfs): run as root, as CI does');
  const root = cacheRoot();
  const key = await inputsKey();
  const dir = join(root, `image-${key}`);
  const image: HilImage = { dir, disk: join(dir, 'disk.img'), uboot: join(dir, 'u-boot.rom'), key: join(dir, 'id_ed25519'), slotA: join(dir, 'slot-a.img') };
  if (existsSync(join(dir, 'ready'))) return image;
  await mkdir(root, { recursive: true });
  // older images are removed: each is ~1 GB
  for (const old of await readdir(root)) if (old.startsWith('image-') && old !== `image-${key}`) await rm(join(root, old), { recursive: true, force: true });
  const work = `${dir}.building-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const t0 = Date.now();
  const at = (what: string) => log(`hil image: ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);

  await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'fota-hil', '-f', join(work, 'id_ed25519')]);
  // the Debian tree is cached on its own (keyed by packages, modules and mirrors only), so a change to the
  // board's customisation or the boot script costs seconds, not a new mmdebstrap
  const base = await debianTree(root, log);
  const rootfs = join(work, 'rootfs');
  await sh('cp', ['-a', base, rootfs]);
  await mkdir(join(rootfs, 'root/.ssh'), { recursive: true });
  await sh('cp', [join(work, 'id_ed25519.pub'), join(rootfs, 'root/.ssh/authorized_keys')]);
  await sh(join(HERE, 'customize.sh'), [rootfs]);
  at('rootfs customised');

  const slot = join(work, 'slot-a.img');
  const fs = await slotFs(rootfs);
  await sh('mkfs.ext4', [...fs.options, '-q', '-F', '-L', 'rootfs', '-d', rootfs, slot, fs.size]);
  await rm(rootfs, { recursive: true, force: true });
  const empty = join(work, 'empty');
  await mkdir(join(empty, 'fota-agent'), { recursive: true, mode: 0o700 });
  const data = join(work, 'data.img');
  await sh('mkfs.ext4', ['-q', '-F', '-L', 'data', '-d', empty, data, `${DISK.dataMiB}M`]);
  const scr = join(work, 'boot.scr');
  await sh('mkimage', ['-A', 'x86', '-T', 'script', '-C', 'none', '-n', 'fota A/B', '-d', join(HERE, 'boot.cmd'), scr]);
  const boot = join(work, 'boot.img');
  await writeFile(boot, '');
  await truncate(boot, DISK.bootMiB * 1024 * 1024);
  await sh('mkfs.vfat', ['-n', 'FOTABOOT', boot]);
  await sh('mcopy', ['-i', boot, scr, '::boot.scr']);

  const disk = join(work, 'disk.img');
  const fh = await open(disk, 'w');
  await fh.truncate(DISK.totalMiB * 1024 * 1024);
  // two redundant copies; copy 1 is the newer (flags 1 > 0), U-Boot and libubootenv agree on it
  await fh.write(serializeEnvImage(initialVars(), { size: ENV.size, redundant: true, flags: 1 }), 0, undefined, ENV.offsets[0]);
  await fh.write(serializeEnvImage(initialVars(), { size: ENV.size, redundant: true, flags: 0 }), 0, undefined, ENV.offsets[1]);
  await fh.close();
  const mib = (n: number) => `${n}MiB`;
  const table = ['label: dos', `start=${mib(DISK.bootStartMiB)}, size=${mib(DISK.bootMiB)}, type=6, bootable`,
    ...DISK.partitions().slice(1).map((p) => `start=${mib(p.startMiB)}, size=${mib(p.sizeMiB)}, type=83`)].join('\n');
  await new Promise<void>((resolve, reject) => {
    const p = execFile('sfdisk', ['-q', disk], (err) => (err ? reject(err) : resolve()));
    p.stdin?.end(`${table}\n`);
  });
  const parts = DISK.partitions();
  await place(disk, boot, parts[0]!.startMiB * 1024 * 1024);
  await place(disk, slot, parts[1]!.startMiB * 1024 * 1024);
  await place(disk, data, parts[3]!.startMiB * 1024 * 1024);
  for (const f of [data, boot, empty, scr]) await rm(f, { recursive: true });
  await writeFile(join(work, 'u-boot.rom'), patchUBoot(await readFile('/usr/lib/u-boot/qemu-x86/u-boot.rom')));
  await writeFile(join(work, 'ready'), `${new Date().toISOString()} ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  await rm(dir, { recursive: true, force: true });
  await rename(work, dir);
  at('image ready');
  return image;
}
