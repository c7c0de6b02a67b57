// DeviceInfoSource on systeminformation: identity read once at start (system() shells out, so never on a timer),
// storage (statfs) and battery refreshed on demand (cheap syscalls and /sys reads). Configured values override
// what is read.

import { statfs } from 'node:fs/promises';
import type { DeviceInfoSource, DeviceSnapshot } from '../core/ports.js';

export interface DeviceOverrides {
  manufacturer?: string;
  model?: string;
  serial?: string;
  hardwareVersion?: string;
  deviceType: string;
  /** a path on the filesystem whose space Object 3 reports (the state directory) */
  storagePath: string;
}

interface SystemInfo {
  system: typeof import('systeminformation').system;
  battery: typeof import('systeminformation').battery;
}

/**
 * Only the two systeminformation modules the agent uses: its index loads all of them (cpu, network, docker, …),
 * which costs ~3 MiB more resident memory for nothing. Loaded on the first refresh.
 */
async function loadSystemInfo(): Promise<SystemInfo> {
  const [sys, battery] = await Promise.all([import('systeminformation/lib/system.js'), import('systeminformation/lib/battery.js')]);
  return { system: sys.system, battery: battery.default };
}

export class SystemDeviceInfo implements DeviceInfoSource {
  private snap: DeviceSnapshot;
  private identityRead = false;
  private hasBattery: boolean | undefined;
  private refreshing: Promise<void> | undefined;
  private refreshedAt = -Infinity;

  constructor(private readonly overrides: DeviceOverrides) {
    this.snap = {
      manufacturer: overrides.manufacturer ?? '',
      model: overrides.model ?? '',
      serial: overrides.serial ?? '',
      hardwareVersion: overrides.hardwareVersion ?? '',
      deviceType: overrides.deviceType,
      storageFreeKB: 0,
      storageTotalKB: 0,
    };
  }

  /** The cached values; a read also refreshes them in the background when they are older than 5 s. */
  snapshot(): DeviceSnapshot {
    if (performance.now() - this.refreshedAt > 5000) void this.refresh();
    return this.snap;
  }

  refresh(): Promise<void> {
    this.refreshedAt = performance.now();
    this.refreshing ??= this.read().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async read(): Promise<void> {
    try {
      const si = await loadSystemInfo();
      const next: DeviceSnapshot = { ...this.snap };
      if (!this.identityRead) {
        this.identityRead = true;
        const sys = await si.system();
        const o = this.overrides;
        next.manufacturer = o.manufacturer || sys.manufacturer || '';
        next.model = o.model || sys.model || '';
        next.serial = o.serial || sys.serial || '';
        next.hardwareVersion = o.hardwareVersion || sys.version || '';
      }
      // LwM2M Object 3 resources 10/21: storage in KB of 1000 bytes; free = what a non-reserved writer can use
      const fs = await statfs(this.overrides.storagePath);
      next.storageFreeKB = Math.floor((fs.bavail * fs.bsize) / 1000);
      next.storageTotalKB = Math.floor((fs.blocks * fs.bsize) / 1000);
      if (this.hasBattery !== false) {
        const bat = await si.battery();
        this.hasBattery = bat.hasBattery;
        if (bat.hasBattery) next.batteryLevel = bat.percent;
      }
      this.snap = next;
    } catch {
      // inventory is best effort: the last good snapshot stays
    }
  }
}
