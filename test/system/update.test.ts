// Whole simulated devices (`fota sim run`: simulated U-Boot + the real agent process) updated over a real
// Mosquitto broker from a real HTTP server: success, rollback of a broken image, bad packages. Power cuts at every
// point: power-cut.test.ts.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { driveUpdate, fota, makePackage, readFw } from '../helpers/sim-device.js';
import { useDeviceRig } from '../helpers/device-rig.js';

const rig = useDeviceRig();
const { serve, device, online } = rig;

async function simStatus(dir: string): Promise<{ env: Record<string, string>; lastBoot: { slot: string } }> {
  return JSON.parse(await fota(['sim', 'status', '--dir', dir, '--json'])) as { env: Record<string, string>; lastBoot: { slot: string } };
}

describe('a simulated device updated over MQTT', () => {
  it('downloads, verifies, reboots into the new slot, commits and reports Idle + 1 with the new version', async () => {
    const pkg = await makePackage(rig.ws, '2.0.0');
    const srv = await serve(pkg);
    const d = device('sys-ok');
    await online('sys-ok');
    expect((await readFw(rig.link, 'sys-ok'))?.version).toBe('1.0.0');
    const fw = await driveUpdate(rig.link, 'sys-ok', srv.url('/fw.fota'));
    expect(fw).toMatchObject({ state: 0, result: 1, version: '2.0.0' });
    const st = await simStatus(d.dir);
    expect(st.lastBoot.slot).toBe('B');
    expect(st.env).toMatchObject({ boot_part: 'B', upgrade_available: '0' });
    expect(d.output()).toMatch(/boot: slot B \(trial 1\/3\), firmware 2\.0\.0/);
  });

  it('a broken image never reaches the agent: the bootloader falls back and the hub learns Idle + 8, boot counter exhausted', async () => {
    const pkg = await makePackage(rig.ws, '3.0.0', { broken: true });
    const srv = await serve(pkg);
    const d = device('sys-broken');
    await online('sys-broken');
    const fw = await driveUpdate(rig.link, 'sys-broken', srv.url('/fw.fota'));
    expect(fw).toMatchObject({ state: 0, result: 8, code: 'boot-failed', version: '1.0.0' });
    expect(fw.reason).toContain('boot counter exhausted');
    const st = await simStatus(d.dir);
    expect(st.env).toMatchObject({ boot_part: 'A', upgrade_available: '0' });
    expect(d.output().match(/trial \d\/3/g)).toHaveLength(3);
  });

  it('a failing health check rolls back at once and reports the command\'s reason', async () => {
    const pkg = await makePackage(rig.ws, '2.1.0');
    const srv = await serve(pkg);
    const script = join(rig.ws.dir, 'unhealthy.sh');
    await import('node:fs/promises').then((fs) => fs.writeFile(script, '#!/bin/sh\necho "app did not start" >&2\nexit 3\n', { mode: 0o755 }));
    device('sys-health', { agentSet: [`health.command=["${script}"]`] });
    await online('sys-health');
    const fw = await driveUpdate(rig.link, 'sys-health', srv.url('/fw.fota'));
    expect(fw).toMatchObject({ state: 0, result: 8, code: 'health-check-failed', version: '1.0.0' });
    expect(fw.reason).toContain('app did not start');
  });

  it('bad packages end in the matching Update Result and the device keeps running its firmware', async () => {
    const good = await makePackage(rig.ws, '4.0.0');
    const wrongType = await makePackage(rig.ws, '4.0.1', { deviceType: 'other-board' });
    const srv = await serve(good);
    const corrupt = await serve(good);
    const bytes = await readFile(good);
    corrupt.setFaults([{ on: 'every', corruptAt: Math.floor(bytes.length / 2) }]); // inside the payload
    const other = await serve(wrongType);
    device('sys-bad');
    await online('sys-bad');
    const cases: [string, number, string][] = [
      [corrupt.url('/fw.fota'), 5, 'integrity-mismatch'],
      [srv.url('/missing'), 7, 'not-found'],
      [other.url('/fw.fota'), 6, 'incompatible-device'],
      ['ftp://127.0.0.1/fw.fota', 9, 'unsupported-scheme'],
    ];
    srv.setFaults([{ on: 'every', status: 404 }]);
    for (const [uri, result, code] of cases) {
      const fw = await driveUpdate(rig.link, 'sys-bad', uri);
      expect(fw, uri).toMatchObject({ state: 0, result, code, version: '1.0.0' });
      expect(fw.reason.length).toBeGreaterThan(10);
    }
  });
});
