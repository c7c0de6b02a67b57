// Slot specifications and the guards before a slot is written, on real devices where the machine allows it: a
// PARTLABEL=/PARTUUID= resolves through udev links or sysfs, twice the same label is refused; a mounted slot, the
// root device, a disk holding a mounted partition or a device-mapper stack are never written; the bootloader
// environment must prove writable first; and a booted-slot source that disagrees with the kernel is a config error.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FotaError } from '../../agent/core/errors.js';
import { checkPlatform, createPlatform, PlatformConfigError } from '../../platform/registry.js';
import { devKey, slotInUse } from '../../platform/slots/slot-in-use.js';
import { resolveSlotSpec } from '../../platform/slots/slot-spec.js';
import { initialEnv } from '../../platform/uboot/ab-scheme.js';
import { loopDevicesWork, makeTestSlot, type TestSlot } from '../helpers/slot-devices.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

describe('slot specifications', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fota-slotspec-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** a fake /dev/disk, /sys/class/block and /dev around two slot files */
  async function tree(opts: { udev: boolean; labels: Record<string, string> }) {
    const roots = { devDisk: join(dir, 'disk'), sysBlock: join(dir, 'sys'), dev: join(dir, 'dev'), blkid: join(dir, 'no-blkid') };
    await mkdir(roots.dev, { recursive: true });
    for (const [name, label] of Object.entries(opts.labels)) {
      await writeFile(join(roots.dev, name), '');
      await mkdir(join(roots.sysBlock, name), { recursive: true });
      await writeFile(join(roots.sysBlock, name, 'uevent'), `MAJOR=179\nMINOR=3\nDEVNAME=${name}\nDEVTYPE=partition\nPARTN=3\nPARTNAME=${label}\n`);
      if (opts.udev) {
        await mkdir(join(roots.devDisk, 'by-partlabel'), { recursive: true });
        await symlink(join(roots.dev, name), join(roots.devDisk, 'by-partlabel', label)).catch(() => undefined);
      }
    }
    return roots;
  }

  it('PARTLABEL= resolves through udev links, or sysfs without udev', async () => {
    for (const udev of [true, false]) {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir);
      const roots = await tree({ udev, labels: { mmcblk0p2: 'rootfs-a', mmcblk0p3: 'rootfs-b' } });
      expect(await resolveSlotSpec('PARTLABEL=rootfs-b', roots)).toBe(join(roots.dev, 'mmcblk0p3'));
      await expect(resolveSlotSpec('PARTLABEL=rootfs-c', roots)).rejects.toThrow(/no partition has this label/);
    }
  });

  it('two partitions with one label are refused (a USB stick with a copy of the image)', async () => {
    const roots = await tree({ udev: true, labels: { mmcblk0p3: 'rootfs-b', sda3: 'rootfs-b' } });
    await expect(resolveSlotSpec('PARTLABEL=rootfs-b', roots)).rejects.toThrow(/2 partitions carry this label \(.*mmcblk0p3, .*sda3\)/);
  });

  it('PARTUUID= resolves through udev links (case-insensitive) or blkid', async () => {
    const roots = await tree({ udev: false, labels: { mmcblk0p3: 'x' } });
    await mkdir(join(roots.devDisk, 'by-partuuid'), { recursive: true });
    await symlink(join(roots.dev, 'mmcblk0p3'), join(roots.devDisk, 'by-partuuid', 'c0ffee00-03'));
    expect(await resolveSlotSpec('PARTUUID=C0FFEE00-03', roots)).toBe(join(roots.dev, 'mmcblk0p3'));
    // without udev: blkid is asked (here a stand-in printing what the real one prints for a match)
    const blkid = join(dir, 'blkid');
    await writeFile(blkid, `#!/bin/sh\n[ "$*" = "-l -o device -t PARTUUID=deadbeef-02" ] && echo ${join(roots.dev, 'mmcblk0p3')} && exit 0\nexit 2\n`);
    await chmod(blkid, 0o755);
    expect(await resolveSlotSpec('PARTUUID=deadbeef-02', { ...roots, blkid })).toBe(join(roots.dev, 'mmcblk0p3'));
    await expect(resolveSlotSpec('PARTUUID=deadbeef-09', { ...roots, blkid })).rejects.toThrow(/no partition has this PARTUUID/);
  });

  it('a device path resolves its symlinks; a missing one says so', async () => {
    await writeFile(join(dir, 'mmcblk0p2'), '');
    await symlink(join(dir, 'mmcblk0p2'), join(dir, 'rootfs-a'));
    expect(await resolveSlotSpec(join(dir, 'rootfs-a'))).toBe(join(dir, 'mmcblk0p2'));
    await expect(resolveSlotSpec(join(dir, 'gone'))).rejects.toThrow(/no such device/);
  });
});

describe('a slot in use is never written', () => {
  let dir: string;
  const slots: TestSlot[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fota-inuse-'));
  });
  afterEach(async () => {
    for (const s of slots.splice(0)) await s.release();
    await rm(dir, { recursive: true, force: true });
  });

  it('a mounted block device is in use, and free again once unmounted', async (ctx) => {
    if (!(await loopDevicesWork())) return void (await ctx.annotate('no loop devices on this machine: covered by the mountinfo cases below'));
    const slot = await makeTestSlot(join(dir, 'b.img'), 16 * MiB);
    slots.push(slot);
    await run('mkfs.ext4', ['-q', '-F', slot.path]);
    const mnt = join(dir, 'mnt');
    await mkdir(mnt);
    await run('mount', [slot.path, mnt]);
    try {
      expect(await slotInUse(slot.path)).toBe(`${slot.path} is in use: ${devKey((await stat(slot.path, { bigint: true })).rdev)} (${slot.path}) is mounted at ${mnt}`);
    } finally {
      await run('umount', [mnt]);
    }
    expect(await slotInUse(slot.path)).toBeUndefined();
  });

  it('the device behind /, a disk whose partition is mounted, and a device-mapper stack are in use (kernel views as files)', async () => {
    // any block device node the machine has will do: only its device number is read
    let node: string | undefined;
    for (const p of ['/dev/loop0', '/dev/vda', '/dev/sda', '/dev/mmcblk0', '/dev/nvme0n1']) if (!node && (await stat(p).then((s) => s.isBlockDevice(), () => false))) node = p;
    if (!node) throw new Error('this machine has no block device node to test with');
    const dev = devKey((await stat(node, { bigint: true })).rdev);
    const views = { mountinfo: join(dir, 'mountinfo'), cmdline: join(dir, 'cmdline'), sysDevBlock: join(dir, 'sys-dev-block') };
    await writeFile(views.cmdline, 'console=ttyS0 quiet');
    await mkdir(join(views.sysDevBlock, dev, 'p3'), { recursive: true });
    await writeFile(join(views.sysDevBlock, dev, 'p3', 'partition'), '3\n');
    await writeFile(join(views.sysDevBlock, dev, 'p3', 'dev'), '259:7\n');
    await mkdir(join(views.sysDevBlock, '259:7', 'holders', 'dm-0'), { recursive: true });
    await writeFile(join(views.sysDevBlock, '259:7', 'holders', 'dm-0', 'dev'), '253:0\n');
    const mountinfo = (mnt: string, d: string) => `22 1 0:21 / /proc rw - proc proc rw\n27 1 ${d} / ${mnt} ro,relatime shared:1 - ext4 /dev/root ro\n`;
    await writeFile(views.mountinfo, mountinfo('/', dev));
    expect(await slotInUse(node, views)).toBe(`${node} holds the running root filesystem (${dev} is mounted at /)`);
    await writeFile(views.mountinfo, mountinfo('/data', '259:7'));
    expect(await slotInUse(node, views)).toMatch(/is in use: 259:7 \(\/dev\/root\) is mounted at \/data/);
    await writeFile(views.mountinfo, mountinfo('/', '253:0'));
    expect(await slotInUse(node, views)).toMatch(/holds the running root filesystem \(253:0/);
    await writeFile(views.mountinfo, mountinfo('/', '8:99'));
    expect(await slotInUse(node, views)).toBeUndefined();
    // root= on the command line, even when / looks like something else (an overlay, an initramfs)
    await writeFile(views.cmdline, `console=ttyS0 root=${node} rootwait`);
    expect(await slotInUse(node, views)).toBe(`${node} is the root device the kernel was booted with (root=${node})`);
  });

  it('root=PARTUUID=… on the command line names a slot file too', async () => {
    const file = join(dir, 'mmcblk0p3');
    await writeFile(file, '');
    await mkdir(join(dir, 'disk', 'by-partuuid'), { recursive: true });
    await symlink(file, join(dir, 'disk', 'by-partuuid', 'c0ffee00-03'));
    const views = { cmdline: join(dir, 'cmdline'), mountinfo: join(dir, 'none'), devDisk: join(dir, 'disk') };
    await writeFile(views.cmdline, 'root=PARTUUID=c0ffee00-03 rootwait');
    expect(await slotInUse(file, views)).toMatch(/is the root device the kernel was booted with \(root=PARTUUID=c0ffee00-03\)/);
    await writeFile(views.cmdline, 'root=PARTUUID=c0ffee00-02 rootwait');
    expect(await slotInUse(file, views)).toBeUndefined();
  });
});

describe('UBootPlatform guards before writing a slot', () => {
  let dir: string;
  const slots: TestSlot[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fota-guard-'));
  });
  afterEach(async () => {
    for (const s of slots.splice(0)) await s.release();
    await rm(dir, { recursive: true, force: true });
  });

  /** A U-Boot board on files: slot A booted (fota.slot=A), slot B on `slotB`, the env in `envPath`. */
  async function board(opts: { slotB?: string; envPath?: string; fwSetenv?: string; cmdline?: string; mountinfo?: string } = {}) {
    const a = join(dir, 'mmcblk0p2');
    await writeFile(a, randomBytes(64 * 1024));
    const b = opts.slotB ?? join(dir, 'mmcblk0p3');
    if (!opts.slotB) await writeFile(b, Buffer.alloc(1024 * 1024));
    const envPath = opts.envPath ?? join(dir, 'uboot.env');
    const vars = join(dir, 'env.txt');
    await writeFile(vars, Object.entries(initialEnv()).map(([k, v]) => `${k}=${v}\n`).join(''));
    const image = join(dir, 'env.img');
    await run('mkenvimage', ['-s', '0x4000', '-o', image, vars]);
    if (opts.envPath) await run('dd', [`if=${image}`, `of=${envPath}`, 'conv=notrunc,fsync', 'status=none']);
    else await run('cp', [image, envPath]);
    const config = join(dir, 'fw_env.config');
    await writeFile(config, `${envPath} 0x0 0x4000\n`);
    const cmdline = join(dir, 'cmdline');
    await writeFile(cmdline, opts.cmdline ?? 'console=ttyS0 fota.slot=A');
    const mountinfo = join(dir, 'mountinfo');
    await writeFile(mountinfo, opts.mountinfo ?? '');
    const platform = createPlatform('uboot', {
      slots: { A: a, B: b },
      envConfig: config,
      ...(opts.fwSetenv ? { fwSetenv: opts.fwSetenv } : {}),
      system: { cmdline, mountinfo },
      firmwareVersionFile: join(dir, 'version'),
      rebootCommand: ['true'],
    });
    return { platform, a, b, config, cmdline, mountinfo };
  }

  const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (e instanceof FotaError ? `${e.code}: ${e.message}` : String(e)));

  it('refuses to write the inactive slot while the kernel runs from it, whatever the environment says', async (ctx) => {
    if (!(await loopDevicesWork())) return void (await ctx.annotate('no loop devices on this machine: the mountinfo cases above cover the check'));
    const slot = await makeTestSlot(join(dir, 'b.img'), 4 * MiB);
    slots.push(slot);
    const dev = devKey((await stat(slot.path, { bigint: true })).rdev);
    // fota.slot=A says A is booted, but the kernel has slot B's device mounted at /
    const { platform } = await board({ slotB: slot.path, mountinfo: `27 1 ${dev} / / ro - ext4 /dev/root ro\n` });
    expect(await code(platform.openInactiveSlot({ size: 1024 }))).toMatch(/^io-error: refusing to write slot B: .* holds the running root filesystem/);
    const e = await checkPlatform(platform).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PlatformConfigError);
    expect((e as PlatformConfigError).key).toBe('platform.options.bootedSlot');
  });

  it('refuses to write a slot when the bootloader environment cannot be written, before touching a byte', async () => {
    let envPath: string | undefined;
    let fwSetenv: string | undefined;
    if (await loopDevicesWork()) {
      // the real case: the environment's device is read-only (an eMMC boot partition with force_ro=1)
      const env = await makeTestSlot(join(dir, 'env.bin'), 64 * 1024);
      slots.push(env);
      envPath = env.path;
    } else {
      // without loop devices: a fw_setenv that fails the way it does on a read-only device
      fwSetenv = join(dir, 'fw_setenv');
      await writeFile(fwSetenv, '#!/bin/sh\necho "Cannot write environment: Read-only file system" >&2\nexit 1\n');
      await chmod(fwSetenv, 0o755);
    }
    const { platform, b } = await board({ ...(envPath ? { envPath } : {}), ...(fwSetenv ? { fwSetenv } : {}) });
    expect(await platform.bootStatus()).toMatchObject({ booted: 'A', trial: false, pending: null });
    const before = await readFile(b);
    if (envPath) await run('blockdev', ['--setro', envPath]);
    expect(await code(platform.openInactiveSlot({ size: 1024 }))).toMatch(/^io-error: the U-Boot environment cannot be written \(.*\); the update could never be activated, so the slot is left alone/);
    expect((await readFile(b)).equals(before)).toBe(true);
    if (envPath) await run('blockdev', ['--setrw', envPath]);
    const w = await platform.openInactiveSlot({ size: 1024 });
    await w.abort();
  });

  it('the harmless probe lands in the environment and changes each time', async () => {
    const { platform, config } = await board();
    const probe = async () => (await run('fw_printenv', ['-c', config, '-n', 'fota_env_probe'])).stdout.trim();
    await (await platform.openInactiveSlot({ size: 10 })).abort();
    const first = await probe();
    await (await platform.openInactiveSlot({ size: 10 })).abort();
    expect(first).toMatch(/^[0-9a-f]{8}$/);
    expect(await probe()).not.toBe(first);
  });

  it('checkBoard: a slot that names nothing is a configuration error naming the key', async () => {
    const { platform } = await board({ slotB: '/dev/disk/by-partlabel/fota-test-nothing-here' });
    const e = await checkPlatform(platform).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PlatformConfigError);
    expect((e as Error).message).toMatch(/^platform\.options\.slots\.B: .*no such device/);
    expect(await checkPlatform((await board()).platform)).toEqual([expect.stringMatching(/^booted slot A \(.*mmcblk0p2\), inactive slot B \(.*mmcblk0p3\), fota convention$/)]);
  });
});
