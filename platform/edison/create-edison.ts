// The `edison` backend: a preset of `uboot` for an Intel Edison on a current Yocto build (edison-fw/meta-intel-edison).
// Its U-Boot keeps a redundant environment in the eMMC's u-boot-env0 and u-boot-env1 partitions (64 KiB each, what
// the Edison images' fw_env.config says); the slots are partitions by label. Everything else is the uboot backend's.

import type { PlatformAdapter } from '../../agent/core/ports.js';
import type { BoardOptions } from '../board-options.js';
import { PlatformConfigError } from '../config-error.js';
import type { Obj } from '../options.js';
import { resolveSlotSpec } from '../slots/slot-spec.js';
import type { BootEnv } from '../uboot/boot-env.js';
import { createUBoot, UBOOT_KEYS } from '../uboot/create-uboot.js';
import { FileBootEnv } from '../uboot/file-boot-env.js';

/** CONFIG_ENV_SIZE of Edison's U-Boot, one copy per partition. */
export const EDISON_ENV_SIZE = 0x10000;
export const EDISON_ENV_PARTITIONS = ['PARTLABEL=u-boot-env0', 'PARTLABEL=u-boot-env1'] as const;
export const EDISON_SLOTS = { A: 'PARTLABEL=rootfs-a', B: 'PARTLABEL=rootfs-b' };

/** The redundant environment on the two partitions, natively; resolved on first use (udev links or sysfs). */
function edisonEnv(board: BoardOptions): BootEnv {
  let env: Promise<BootEnv> | undefined;
  const load = async (): Promise<BootEnv> => {
    const paths: string[] = [];
    for (const spec of EDISON_ENV_PARTITIONS) {
      paths.push(
        await resolveSlotSpec(spec, board.views).catch((e: unknown) => {
          throw new PlatformConfigError('platform.name', `${(e as Error).message}: an Edison keeps its U-Boot environment in the u-boot-env0 and u-boot-env1 partitions; on another board use "uboot"`);
        }),
      );
    }
    return new FileBootEnv([
      { path: paths[0]!, offset: 0, size: EDISON_ENV_SIZE },
      { path: paths[1]!, offset: 0, size: EDISON_ENV_SIZE },
    ]);
  };
  const get = () =>
    (env ??= load().catch((e: unknown) => {
      env = undefined;
      throw e;
    }));
  return { read: async () => (await get()).read(), write: async (vars) => (await get()).write(vars) };
}

export function createEdison(options: unknown): PlatformAdapter {
  return createUBoot(options, {
    name: 'edison',
    known: UBOOT_KEYS,
    defaults: { slots: EDISON_SLOTS },
    // fw_printenv/fw_setenv when asked for (env or envConfig set), else the two partitions natively
    env: (given: Obj, board) => (given['env'] === undefined && given['envConfig'] === undefined ? edisonEnv(board) : undefined),
  });
}
