// The OS-facing pieces behind UBootPlatform on real files: booted-slot sources (kernel command line token, root
// device mapping), the firmware version file, the reboot command, and slot/device sizes.
import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FotaError } from '../../agent/core/errors.js';
import { cmdlineSlotSource, rootDeviceSlotSource } from '../../platform/slots/booted-slot.js';
import { deviceSize } from '../../platform/slots/device-size.js';
import { factoryImageSource } from '../../platform/factory-image.js';
import { commandReboot, readFirmwareVersion } from '../../platform/system-hooks.js';

describe('platform sources on real files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fota-platsrc-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads fota.slot= from the kernel command line, with a custom key too', async () => {
    const cmdline = join(dir, 'cmdline');
    await writeFile(cmdline, 'console=ttyS0 root=/dev/mmcblk0p3 fota.slot=B quiet\n');
    expect(await cmdlineSlotSource({ path: cmdline })()).toBe('B');
    await writeFile(cmdline, 'hil.slot=A fota.slot=B');
    expect(await cmdlineSlotSource({ path: cmdline, key: 'hil.slot' })()).toBe('A');
  });

  it('says what to add to the boot script when the token is missing or wrong', async () => {
    const cmdline = join(dir, 'cmdline');
    for (const text of ['console=ttyS0 quiet', 'fota.slot=C', 'xfota.slot=A']) {
      await writeFile(cmdline, text);
      const e = await cmdlineSlotSource({ path: cmdline })().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(FotaError);
      expect((e as FotaError).code).toBe('io-error');
      expect((e as FotaError).message).toContain('add "fota.slot=${boot_part}" to bootargs');
    }
    const missing = await cmdlineSlotSource({ path: join(dir, 'nope') })().catch((x: unknown) => x);
    expect((missing as FotaError).message).toMatch(/cannot read the kernel command line/);
  });

  it('maps root= to a slot, through /dev symlinks', async () => {
    const a = join(dir, 'mmcblk0p2');
    const b = join(dir, 'mmcblk0p3');
    await writeFile(a, '');
    await writeFile(b, '');
    await symlink(b, join(dir, 'by-partlabel-rootfs-b'));
    const cmdline = join(dir, 'cmdline');
    const source = rootDeviceSlotSource(async () => ({ A: [a], B: [b] }), { cmdline, mountinfo: join(dir, 'no-mountinfo') });
    await writeFile(cmdline, `console=ttyS0 root=${a} rw`);
    expect(await source()).toBe('A');
    await writeFile(cmdline, `root=${join(dir, 'by-partlabel-rootfs-b')} rw`);
    expect(await source()).toBe('B');
    await writeFile(cmdline, 'root=/dev/nfs');
    await expect(source()).rejects.toThrow(/neither slot A .* nor slot B/);
  });

  it('reads the firmware version from a plain file or an os-release file', async () => {
    const f = join(dir, 'version');
    await writeFile(f, '\n  2.3.4  \nextra\n');
    expect(await readFirmwareVersion(f)).toBe('2.3.4');
    await writeFile(f, 'NAME="Acme Linux"\nVERSION_ID="5.1.0"\nID=acme\n');
    expect(await readFirmwareVersion(f)).toBe('5.1.0');
    expect(await readFirmwareVersion(join(dir, 'missing'))).toBe('');
  });

  it('runs the reboot command with execFile and reports its failure', async () => {
    const marker = join(dir, 'rebooted');
    await commandReboot([process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'yes; $(not a shell)')`])('update');
    expect(await readFile(marker, 'utf8')).toBe('yes; $(not a shell)');
    const e = await commandReboot([process.execPath, '-e', 'console.error("no permission"); process.exit(1)'])('x').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FotaError);
    expect((e as FotaError).message).toContain('no permission');
  });

  it('a factory image file streams its bytes; a missing one means no factory image', async () => {
    const f = join(dir, 'factory.img');
    await writeFile(f, Buffer.alloc(300_000, 7));
    const img = await factoryImageSource({ path: f, version: '1.0.0' })();
    expect(img).toMatchObject({ size: 300_000, version: '1.0.0' });
    let n = 0;
    for await (const c of img!.open()) n += (c as Buffer).length;
    expect(n).toBe(300_000);
    expect(await factoryImageSource({ path: join(dir, 'gone'), version: '1.0.0' })()).toBeUndefined();
  });

  it('sizes regular files, block devices (from sysfs) and refuses other files', async () => {
    const f = join(dir, 'slot');
    await writeFile(f, Buffer.alloc(12345));
    expect(await deviceSize(f)).toBe(12345);
    await expect(deviceSize('/dev/null')).rejects.toThrow(/neither a regular file nor a block device/);
    // any block device this machine exposes must match the kernel's own figure (sectors × 512)
    for (const name of await readdir('/sys/class/block').catch(() => [] as string[])) {
      const node = join('/dev', name);
      if (!existsSync(node) || !(await stat(node)).isBlockDevice()) continue;
      const sectors = Number((await readFile(join('/sys/class/block', name, 'size'), 'utf8')).trim());
      expect(await deviceSize(node)).toBe(sectors * 512);
    }
  });
});
