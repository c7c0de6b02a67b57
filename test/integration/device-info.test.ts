// The agent's Object 3 inventory adapter on this machine: real systeminformation reads of /proc and /sys, and the
// storage of the state directory's filesystem checked against df(1).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SystemDeviceInfo } from '../../agent/adapters/device-info.js';

describe('SystemDeviceInfo', () => {
  it('reports the storage of the state directory in kB (1000 bytes) and keeps configured identity over what the system says', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fota-devinfo-'));
    try {
      const info = new SystemDeviceInfo({ deviceType: 'fota-sim', manufacturer: 'acme', serial: 'SN-1', storagePath: dir });
      await info.refresh();
      const s = info.snapshot();
      const { stdout } = await promisify(execFile)('df', ['-B1', '--output=size,avail', dir]);
      const [size, avail] = stdout.trim().split('\n')[1]!.trim().split(/\s+/).map(Number) as [number, number];
      expect(s.storageTotalKB).toBe(Math.floor(size / 1000));
      // free space moves while other tests write: within 1 %
      expect(Math.abs(s.storageFreeKB - avail / 1000)).toBeLessThan(size / 1000 / 100);
      expect(s).toMatchObject({ manufacturer: 'acme', serial: 'SN-1', deviceType: 'fota-sim' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
