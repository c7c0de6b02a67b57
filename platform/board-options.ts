// The options every real-board backend shares (uboot, edison, grub, rpi-tryboot): slots, how the booted slot is
// found, where the kernel's views are, the firmware version file, the reboot command, the factory image, and how
// slots are written. Parsed and checked synchronously; nothing touches the board here.

import type { SlotName } from '../agent/core/ports.js';
import { PlatformConfigError } from './config-error.js';
import { factoryImageSource, type FactoryImage } from './factory-image.js';
import { absPath, argv, bool, int, object, oneOf, slotSpecs, str, type Obj } from './options.js';
import { cmdlineSlotSource, rootDeviceSlotSource, type BootedSlotSource } from './slots/booted-slot.js';
import type { KernelViews } from './slots/slot-in-use.js';
import { SlotSet } from './slots/slot-set.js';
import { commandReboot, readFirmwareVersion } from './system-hooks.js';

/** The keys parseBoardOptions reads; a backend adds its own to this list. */
export const BOARD_KEYS = ['slots', 'firmwareVersionFile', 'rebootCommand', 'factoryImage', 'system', 'writes'] as const;

export interface BoardOptions {
  slots: SlotSet;
  views: KernelViews;
  /** /proc/sys/kernel/random/boot_id and /sys/class/watchdog, for the backends that need them */
  bootIdFile: string;
  watchdogSysfs: string;
  firmwareVersion: (booted: SlotName) => Promise<string>;
  rebootArgv: string[];
  reboot: (reason: string) => Promise<void>;
  factoryImage?: () => Promise<FactoryImage | undefined>;
}

const HEX64 = /^[0-9a-fA-F]{64}$/;

export function parseBoardOptions(o: Obj, key: string, defaults: { slots?: Record<SlotName, string | string[]> } = {}): BoardOptions {
  const specs = slotSpecs(o, key, '{ "A": "/dev/mmcblk0p2", "B": "PARTLABEL=rootfs-b" }', defaults.slots);
  const sys = object(o['system'] ?? {}, `${key}.system`, ['cmdline', 'mountinfo', 'devDisk', 'sysBlock', 'sysDevBlock', 'dev', 'bootId', 'watchdog']);
  const views: KernelViews = {
    cmdline: absPath(sys, 'cmdline', `${key}.system`, '/proc/cmdline'),
    mountinfo: absPath(sys, 'mountinfo', `${key}.system`, '/proc/self/mountinfo'),
    devDisk: absPath(sys, 'devDisk', `${key}.system`, '/dev/disk'),
    sysBlock: absPath(sys, 'sysBlock', `${key}.system`, '/sys/class/block'),
    sysDevBlock: absPath(sys, 'sysDevBlock', `${key}.system`, '/sys/dev/block'),
    dev: absPath(sys, 'dev', `${key}.system`, '/dev'),
  };
  const w = object(o['writes'] ?? {}, `${key}.writes`, ['skipIdentical', 'verify']);
  const slots = new SlotSet({
    specs,
    views,
    key: `${key}.slots`,
    writer: { skipIdentical: bool(w, 'skipIdentical', `${key}.writes`, true), verify: bool(w, 'verify', `${key}.writes`, true) },
  });
  const versionFile = absPath(o, 'firmwareVersionFile', key, '/etc/fota/firmware-version');
  const rebootArgv = argv(o, 'rebootCommand', key, ['systemctl', 'reboot']);
  const out: BoardOptions = {
    slots,
    views,
    bootIdFile: absPath(sys, 'bootId', `${key}.system`, '/proc/sys/kernel/random/boot_id'),
    watchdogSysfs: absPath(sys, 'watchdog', `${key}.system`, '/sys/class/watchdog'),
    firmwareVersion: () => readFirmwareVersion(versionFile),
    rebootArgv,
    reboot: commandReboot(rebootArgv),
  };
  if (o['factoryImage'] !== undefined) {
    const fk = `${key}.factoryImage`;
    const f = object(o['factoryImage'], fk, ['path', 'version', 'size', 'sha256']);
    const sha256 = f['sha256'];
    if (sha256 !== undefined && (typeof sha256 !== 'string' || !HEX64.test(sha256))) throw new PlatformConfigError(`${fk}.sha256`, 'must be 64 hexadecimal digits (sha256sum of the image)');
    const size = int(f, 'size', fk, 1, Number.MAX_SAFE_INTEGER);
    out.factoryImage = factoryImageSource({
      path: absPath(f, 'path', fk),
      version: str(f, 'version', fk, ''),
      ...(size !== undefined ? { size } : {}),
      ...(typeof sha256 === 'string' ? { sha256 } : {}),
    });
  }
  return out;
}

/**
 * `bootedSlot`: `{ source: "cmdline", key }` (a slot token such as fota.slot=A or rauc.slot=A) or
 * `{ source: "root-device" }` (the device mounted at / or named by root=, mapped to the slots).
 */
export function parseBootedSlot(o: Obj, key: string, board: BoardOptions, defaults: { source: 'cmdline' | 'root-device'; key: string; hint?: string }): BootedSlotSource {
  const bk = `${key}.bootedSlot`;
  const bs = object(o['bootedSlot'] ?? {}, bk, ['source', 'path', 'key', 'cmdline']);
  const source = oneOf(bs, 'source', bk, ['cmdline', 'root-device'] as const, defaults.source);
  const cmdline = absPath(bs, source === 'cmdline' ? 'path' : 'cmdline', bk, board.views.cmdline);
  if (source === 'cmdline') return cmdlineSlotSource({ path: cmdline, key: str(bs, 'key', bk, defaults.key), ...(defaults.hint ? { hint: defaults.hint } : {}) });
  return rootDeviceSlotSource(() => board.slots.parts(), { ...board.views, cmdline });
}
