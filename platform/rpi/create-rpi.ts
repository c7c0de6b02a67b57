// The `rpi-tryboot` backend's factory: a Raspberry Pi 4/5/400/CM4 booted by its own firmware (no U-Boot), A/B with
// autoboot.txt and `reboot "0 tryboot"`. Options are checked here; the board (device tree, autoboot.txt, watchdog)
// at start by TrybootPlatform.checkBoard.

import type { PlatformAdapter, SlotName } from '../../agent/core/ports.js';
import { BOARD_KEYS, parseBoardOptions } from '../board-options.js';
import { PlatformConfigError } from '../config-error.js';
import { absPath, argv, int, K, object, oneOf, type Obj } from '../options.js';
import { commandReboot } from '../system-hooks.js';
import { slotInUse } from '../slots/slot-in-use.js';
import { partitionNumber, resolveSlotSpec, slotSpecProblem } from '../slots/slot-spec.js';
import { mountedAutoboot, mtoolsAutoboot, type AutobootStore } from './autoboot.js';
import { TrybootPlatform } from './tryboot-platform.js';

export const RPI_KEYS = [...BOARD_KEYS, 'bootPartitions', 'autoboot', 'deviceTree', 'trybootCommand', 'watchdog', 'stateFile'] as const;

function autobootStore(o: Obj, board: ReturnType<typeof parseBoardOptions>): AutobootStore {
  const ak = `${K}.autoboot`;
  const a = object(o['autoboot'] ?? { device: '/dev/mmcblk0p1' }, ak, ['device', 'dir']);
  if ((a['device'] === undefined) === (a['dir'] === undefined)) throw new PlatformConfigError(ak, 'set either device (the unmounted FAT partition, written with mtools) or dir (where it is mounted)');
  if (a['dir'] !== undefined) return mountedAutoboot(absPath(a, 'dir', ak));
  const spec = a['device'];
  const problem = slotSpecProblem(spec);
  if (problem) throw new PlatformConfigError(`${ak}.device`, problem);
  const device = async () => resolveSlotSpec(spec as string, board.views).catch((e: unknown) => Promise.reject(new PlatformConfigError(`${ak}.device`, (e as Error).message)));
  return {
    where: `${spec as string}::autoboot.txt`,
    read: async () => mtoolsAutoboot(await device()).read(),
    async write(text) {
      const dev = await device();
      // mtools behind a mounted FAT would corrupt what the kernel caches: use autoboot.dir then
      const busy = await slotInUse(dev, board.views);
      if (busy) throw new Error(`${busy}; set platform.options.autoboot to { "dir": "<where it is mounted>" }`);
      await mtoolsAutoboot(dev).write(text);
    },
  };
}

export function createRpiTryboot(options: unknown, ctx: { stateDir?: string }): PlatformAdapter {
  const o = object(options ?? {}, K, RPI_KEYS);
  const board = parseBoardOptions(o, K);
  let bootPartitions: () => Promise<Record<SlotName, number>>;
  if (o['bootPartitions'] !== undefined) {
    const bk = `${K}.bootPartitions`;
    const b = object(o['bootPartitions'], bk, ['A', 'B']);
    const parts = { A: int(b, 'A', bk, 1, 63), B: int(b, 'B', bk, 1, 63) };
    if (parts.A === undefined || parts.B === undefined || parts.A === parts.B) throw new PlatformConfigError(bk, 'needs two different partition numbers, e.g. { "A": 2, "B": 3 }');
    bootPartitions = async () => parts as Record<SlotName, number>;
  } else {
    // the firmware's boot_partition is the slot's FAT boot partition: the first device of the slot
    bootPartitions = async () => {
      const all = await board.slots.parts();
      const parts = { A: partitionNumber(all.A[0]!), B: partitionNumber(all.B[0]!) };
      if (parts.A === undefined || parts.B === undefined || parts.A === parts.B)
        throw new PlatformConfigError(`${K}.bootPartitions`, `cannot tell the boot partition numbers from ${all.A[0]} and ${all.B[0]}; set them, e.g. { "A": 2, "B": 3 }`);
      return parts as Record<SlotName, number>;
    };
  }
  const tryboot = argv(o, 'trybootCommand', K, [...board.rebootArgv, '0 tryboot']);
  return new TrybootPlatform({
    slots: board.slots,
    bootPartitions,
    autoboot: autobootStore(o, board),
    deviceTree: absPath(o, 'deviceTree', K, '/proc/device-tree/chosen/bootloader'),
    bootIdFile: board.bootIdFile,
    stateFile: absPath(o, 'stateFile', K, `${ctx.stateDir ?? '/var/lib/fota-agent'}/rpi-tryboot.json`),
    firmwareVersion: board.firmwareVersion,
    reboot: board.reboot,
    tryboot: commandReboot(tryboot),
    watchdog: { mode: oneOf(o, 'watchdog', K, ['require', 'warn', 'off'] as const, 'require'), sysfs: board.watchdogSysfs },
    ...(board.factoryImage ? { factoryImage: board.factoryImage } : {}),
  });
}
