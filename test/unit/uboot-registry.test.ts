// The platform registry: backends by name, option validation errors that name the key, default device types.
import { describe, expect, it } from 'vitest';
import { createPlatform, PLATFORM_NAMES, PlatformConfigError, platformDeviceType } from '../../platform/registry.js';

function configError(name: string, options: unknown): PlatformConfigError {
  try {
    createPlatform(name, options);
  } catch (e) {
    expect(e).toBeInstanceOf(PlatformConfigError);
    return e as PlatformConfigError;
  }
  throw new Error('expected a PlatformConfigError');
}

const UBOOT = { slots: { A: '/dev/mmcblk0p2', B: '/dev/mmcblk0p3' } };

describe('platform registry', () => {
  it('lists the known backends and their default device types', () => {
    expect([...PLATFORM_NAMES].sort()).toEqual(['edison', 'grub', 'rpi-tryboot', 'simulator', 'uboot']);
    expect(platformDeviceType('edison')).toBe('edison');
    expect(platformDeviceType('rpi-tryboot')).toBe('rpi-ab');
    expect(platformDeviceType('simulator')).toBe('fota-sim');
    expect(platformDeviceType('grub')).toBe('grub-ab');
    expect(platformDeviceType('uboot')).toBe('uboot-ab');
  });

  it('an unknown platform is a configuration error listing the known names', () => {
    const e = configError('barebox', {});
    expect(e.key).toBe('platform.name');
    expect(e.message).toBe('platform.name: unknown platform "barebox" (known: simulator, edison, grub, rpi-tryboot, uboot)');
    expect(() => platformDeviceType('__proto__')).toThrow(PlatformConfigError);
  });

  it('builds valid configurations', () => {
    expect(createPlatform('simulator', { dir: '/var/lib/sim/dev1' }).name).toBe('simulator');
    expect(createPlatform('uboot', UBOOT).name).toBe('uboot');
    expect(
      createPlatform('uboot', {
        ...UBOOT,
        env: 'native',
        envConfig: '/etc/fw_env.config',
        bootlimit: 5,
        firmwareVersionFile: '/etc/os-release',
        rebootCommand: ['/sbin/reboot'],
        bootedSlot: { source: 'root-device' },
        factoryImage: { path: '/data/factory.img', version: '1.0.0' },
      }).name,
    ).toBe('uboot');
    expect(createPlatform('uboot', { slots: { A: 'PARTLABEL=rootfs-a', B: 'PARTUUID=c0ffee00-03' }, convention: 'mender', partitions: { A: 2, B: 3 }, bootlimit: 1 }).name).toBe('uboot');
    expect(createPlatform('uboot', { ...UBOOT, convention: 'rauc', bootnames: { A: 'system0', B: 'system1' }, attempts: 3, writes: { skipIdentical: false, verify: true } }).name).toBe('uboot');
  });

  it.each([
    ['simulator', {}, 'platform.options.dir', 'is required'],
    ['simulator', { dir: 'rel/dir' }, 'platform.options.dir', 'must be an absolute path'],
    ['simulator', { dir: '/x', slots: 1 }, 'platform.options.slots', 'unknown key (known here: dir)'],
    ['simulator', 'dir', 'platform.options', 'must be an object'],
    ['uboot', {}, 'platform.options.slots', 'is required'],
    ['grub', {}, 'platform.options.slots', 'is required'],
    ['edison', { slots: { A: 'PARTLABEL=rootfs-a', B: 'PARTLABEL=rootfs-a' } }, 'platform.options.slots', 'named twice'],
    ['edison', { bootlimit: 12 }, 'platform.options.bootlimit', 'from 1 to 8'],
    ['rpi-tryboot', { ...UBOOT, autoboot: { device: '/dev/mmcblk0p1', dir: '/boot/firmware' } }, 'platform.options.autoboot', 'either device'],
    ['rpi-tryboot', { ...UBOOT, watchdog: 'maybe' }, 'platform.options.watchdog', 'must be one of "require", "warn", "off"'],
    ['rpi-tryboot', { ...UBOOT, bootPartitions: { A: 2, B: 2 } }, 'platform.options.bootPartitions', 'two different partition numbers'],
    ['rpi-tryboot', { ...UBOOT, convention: 'rauc' }, 'platform.options.convention', 'unknown key'],
    ['rpi-tryboot', { slots: { A: ['/dev/mmcblk0p2', '/dev/mmcblk0p5'], B: ['/dev/mmcblk0p3', '/dev/mmcblk0p5'] } }, 'platform.options.slots', '/dev/mmcblk0p5 is named twice'],
    ['grub', { ...UBOOT, envFile: 'grubenv' }, 'platform.options.envFile', 'must be an absolute path'],
    ['grub', { ...UBOOT, bootlimit: 9 }, 'platform.options.bootlimit', 'from 1 to 8'],
    ['grub', { ...UBOOT, convention: 'mender' }, 'platform.options.convention', 'unknown key'],
    ['uboot', { slots: { A: '/dev/a' } }, 'platform.options.slots.B', 'is required'],
    ['uboot', { slots: { A: 'mmcblk0p2', B: '/dev/b' } }, 'platform.options.slots.A', 'must be an absolute path'],
    ['uboot', { slots: { A: '/dev/a', B: '/dev/a' } }, 'platform.options.slots', 'must be different'],
    ['uboot', { slots: { A: '/dev/a', B: '/dev/b', C: '/dev/c' } }, 'platform.options.slots.C', 'unknown key'],
    ['uboot', { ...UBOOT, env: 'grub' }, 'platform.options.env', 'must be one of "fw-tools", "native"'],
    ['uboot', { ...UBOOT, bootlimit: 0 }, 'platform.options.bootlimit', 'from 1 to 8'],
    ['uboot', { ...UBOOT, bootlimit: 9 }, 'platform.options.bootlimit', 'from 1 to 8'],
    ['uboot', { ...UBOOT, bootlimit: 2.5 }, 'platform.options.bootlimit', 'from 1 to 8'],
    ['uboot', { ...UBOOT, rebootCommand: [] }, 'platform.options.rebootCommand', 'non-empty array'],
    ['uboot', { ...UBOOT, rebootCommand: 'reboot now' }, 'platform.options.rebootCommand', 'no shell'],
    ['uboot', { ...UBOOT, bootedSlot: { source: 'dtb' } }, 'platform.options.bootedSlot.source', 'must be one of "cmdline", "root-device"'],
    ['uboot', { ...UBOOT, bootedSlot: { source: 'cmdline', key: '' } }, 'platform.options.bootedSlot.key', 'non-empty string'],
    ['uboot', { ...UBOOT, factoryImage: { version: '1' } }, 'platform.options.factoryImage.path', 'is required'],
    ['uboot', { ...UBOOT, envConfig: 'fw_env.config' }, 'platform.options.envConfig', 'must be an absolute path'],
    ['uboot', { ...UBOOT, slot: {} }, 'platform.options.slot', 'unknown key (known here: slots, '],
    ['uboot', { slots: { A: 'PARTLABEL=', B: '/dev/b' } }, 'platform.options.slots.A', 'PARTLABEL needs a value'],
    ['uboot', { slots: { A: 'PARTUUID=a/b', B: '/dev/b' } }, 'platform.options.slots.A', 'must not contain "/"'],
    ['uboot', { ...UBOOT, convention: 'swupdate' }, 'platform.options.convention', 'must be one of "fota", "mender", "rauc"'],
    ['uboot', { ...UBOOT, partitions: { A: 2, B: 3 } }, 'platform.options.partitions', 'applies to the mender convention only'],
    ['uboot', { ...UBOOT, convention: 'mender', partitions: { A: 2 } }, 'platform.options.partitions', 'needs both A and B'],
    ['uboot', { ...UBOOT, convention: 'mender', partitions: { A: 2, B: 2 } }, 'platform.options.partitions', 'A and B must differ'],
    ['uboot', { ...UBOOT, convention: 'mender', bootnames: { A: 'a', B: 'b' } }, 'platform.options.bootnames', 'applies to the rauc convention only'],
    ['uboot', { ...UBOOT, convention: 'rauc', bootlimit: 3 }, 'platform.options.bootlimit', 'applies to the fota and mender convention only'],
    ['uboot', { ...UBOOT, convention: 'rauc', attempts: 10 }, 'platform.options.attempts', 'from 1 to 9'],
    ['uboot', { ...UBOOT, convention: 'rauc', bootnames: { A: 'x', B: 'x' } }, 'platform.options.bootnames', 'two different names'],
    ['uboot', { ...UBOOT, writes: { skipIdentical: 'yes' } }, 'platform.options.writes.skipIdentical', 'true or false'],
    ['uboot', { ...UBOOT, factoryImage: { path: '/dev/mmcblk0p5', version: '1', sha256: 'abc' } }, 'platform.options.factoryImage.sha256', '64 hexadecimal digits'],
    ['uboot', { ...UBOOT, system: { cmdline: 'proc/cmdline' } }, 'platform.options.system.cmdline', 'must be an absolute path'],
  ] as const)('%s %j → %s %s', (name, options, key, message) => {
    const e = configError(name, options);
    expect(e.key).toBe(key);
    expect(e.message).toContain(`${key}: `);
    expect(e.message).toContain(message);
  });
});
