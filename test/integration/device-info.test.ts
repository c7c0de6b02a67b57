// The agent's Object 3 inventory adapter on this machine: real systeminformation reads of /proc and /sys.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { SystemDeviceInfo } from '../../agent/adapters/device-info.js';

describe('SystemDeviceInfo', () => {
  it('reads memory from the system and keeps configured identity over what the system says', async () => {
    const info = new SystemDeviceInfo({ deviceType: 'fota-sim', manufacturer: 'acme', serial: 'SN-1' });
    await info.refresh();
    const s = info.snapshot();
    const totalKiB = os.totalmem() / 1024;
    expect(s.memoryTotalKiB).toBeGreaterThan(totalKiB * 0.9);
    expect(s.memoryTotalKiB).toBeLessThan(totalKiB * 1.1);
    expect(s.memoryFreeKiB).toBeGreaterThan(0);
    expect(s.memoryFreeKiB).toBeLessThanOrEqual(s.memoryTotalKiB);
    expect(s).toMatchObject({ manufacturer: 'acme', serial: 'SN-1', deviceType: 'fota-sim' });
  });
});
