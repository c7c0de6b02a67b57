// SimulatorPlatform: a device in a folder, driven by exactly the U-Boot A/B logic (EnvPlatform over FileBootEnv on
// DIR/uboot.env and the slot files). The booted slot comes from DIR/run/boot.json (written by the simulated
// bootloader), the firmware version from the booted slot's image header; reboot is a callback of the composition root.

import { createReadStream } from 'node:fs';
import { FotaError } from '../../agent/core/errors.js';
import { EnvPlatform } from '../env-platform.js';
import { SlotSet } from '../slots/slot-set.js';
import { ownConvention } from '../uboot/ab-scheme.js';
import { readBootRecord } from './bootloader.js';
import { simBootEnv, simPaths } from './device-dir.js';
import { readSimImageHeader } from './image-header.js';

export interface SimulatorPlatformOptions {
  /** the device folder (see device-dir.ts) */
  dir: string;
  /**
   * Ends this "power cycle": the agent's composition root stops the daemon and exits with SIM_REBOOT_EXIT_CODE,
   * and sim-runner boots the device again. Without it reboot() fails with FotaError('unsupported').
   */
  reboot?: () => Promise<void>;
}

export class SimulatorPlatform extends EnvPlatform {
  constructor(opts: SimulatorPlatformOptions) {
    const paths = simPaths(opts.dir);
    super({
      name: 'simulator',
      env: simBootEnv(paths.dir),
      convention: ownConvention(),
      // slot files: nothing in the kernel's views can name them, so the in-use guard never fires here
      slots: new SlotSet({ specs: paths.slots }),
      bootedSlot: async () => {
        try {
          return (await readBootRecord(paths.dir)).slot;
        } catch (e) {
          throw new FotaError('io-error', (e as Error).message, { cause: e });
        }
      },
      firmwareVersion: async (slot) => (await readSimImageHeader(paths.slots[slot])).version,
      slotVersion: async (slot) => (await readSimImageHeader(paths.slots[slot])).version,
      reboot: async () => {
        const reboot = opts.reboot;
        if (!reboot) throw new FotaError('unsupported', 'this simulated device has no reboot handler (run the agent under fota sim run)');
        // Resolve once requested (the port's contract), without waiting: the handler stops the daemon, and the
        // daemon's stop waits for the effect that is calling us. A failing handler surfaces as an unhandled
        // rejection, the agent dies, sim-runner restarts it, and the daemon sees the trial still pending and reboots.
        setImmediate(() => void reboot());
      },
      factoryImage: async () => {
        const header = await readSimImageHeader(paths.factory).catch(() => undefined);
        if (!header) return undefined;
        return {
          size: header.size,
          version: header.version,
          open: () => createReadStream(paths.factory, { start: 0, end: header.size - 1, highWaterMark: 256 * 1024 }),
        };
      },
    });
  }
}
