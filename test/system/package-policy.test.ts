// Which packages a whole simulated device (`fota sim run`: simulated U-Boot + the real agent process) installs, over
// a real Mosquitto broker from real HTTP servers: anti-rollback (downgrades, the security floor across restarts and a
// factory reset), key rotation over the wire, and a slowloris package server.
import { readFile } from 'node:fs/promises';
import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keyIdOf } from '../../agent/adapters/trusted-keys.js';
import { driveUpdate, fota, makePackage, readFw, waitFor } from '../helpers/sim-device.js';
import { useDeviceRig } from '../helpers/device-rig.js';

const rig = useDeviceRig();
const { serve, device, online } = rig;

async function read(id: string, path: string): Promise<unknown> {
  return waitFor(`${id} ${path}`, 20_000, async () => {
    const r = await rig.link.request(id, { op: 'read', path }, 2000).catch(() => undefined);
    return r?.code === '2.05' ? r.value : undefined;
  });
}

async function slotVersions(dir: string): Promise<{ A: string | undefined; B: string | undefined }> {
  const st = JSON.parse(await fota(['sim', 'status', '--dir', dir, '--json'])) as { slots: Record<'A' | 'B', { version: string } | null> };
  return { A: st.slots.A?.version, B: st.slots.B?.version };
}

describe('anti-rollback on a whole device', () => {
  it('refuses a signed downgrade before writing a byte, installs it only when the job allows it, never below the floor, across restarts and a factory reset', async () => {
    const v2 = await serve(await makePackage(rig.ws, '2.0.0'));
    const v21 = await serve(await makePackage(rig.ws, '2.1.0', { securityFloor: '1.5.0' }));
    const v09 = await serve(await makePackage(rig.ws, '0.9.0'));
    const v12 = await serve(await makePackage(rig.ws, '1.2.0'));
    const v16 = await serve(await makePackage(rig.ws, '1.6.0'));
    let d = device('ar-1');
    await online('ar-1');

    expect(await driveUpdate(rig.link, 'ar-1', v2.url('/fw.fota'))).toMatchObject({ state: 0, result: 1, version: '2.0.0' });
    expect(await read('ar-1', '/5/0/26246')).toBe(''); // no floor yet
    expect(await slotVersions(d.dir)).toEqual({ A: '1.0.0', B: '2.0.0' });

    // the reported defect: a signed 0.9.0 was installed over 2.0.0 and committed
    const refused = await driveUpdate(rig.link, 'ar-1', v09.url('/fw.fota'));
    expect(refused).toMatchObject({ state: 0, result: 6, code: 'downgrade-refused', version: '2.0.0' });
    expect(refused.reason).toMatch(/0\.9\.0 refused: it is a downgrade from the installed 2\.0\.0; a job that allows a downgrade can install it/);
    expect(await slotVersions(d.dir)).toEqual({ A: '1.0.0', B: '2.0.0' }); // not a byte reached the inactive slot

    expect(await driveUpdate(rig.link, 'ar-1', v21.url('/fw.fota'))).toMatchObject({ result: 1, version: '2.1.0' });
    expect(await read('ar-1', '/5/0/26246')).toBe('1.5.0'); // the committed package raised the floor

    // allowed by the job, but below the floor: still refused
    const floor = await driveUpdate(rig.link, 'ar-1', v12.url('/fw.fota'), 90_000, { allowDowngrade: true });
    expect(floor).toMatchObject({ result: 6, code: 'downgrade-refused', version: '2.1.0' });
    expect(floor.reason).toContain('below the security floor 1.5.0');

    expect(await driveUpdate(rig.link, 'ar-1', v16.url('/fw.fota'), 90_000, { allowDowngrade: true })).toMatchObject({ result: 1, version: '1.6.0' });

    // the floor survives the agent and the device restarting
    await d.stop();
    d = device('ar-1');
    await online('ar-1');
    expect(await read('ar-1', '/5/0/26246')).toBe('1.5.0');

    // the factory image (1.0.0) is below the floor: a factory reset is refused, the device keeps 1.6.0
    const before = await readFw(rig.link, 'ar-1');
    await rig.link.request('ar-1', { op: 'execute', path: '/3/0/5' }, 3000);
    const reset = await waitFor('the factory reset to end', 60_000, async () => {
      const fw = await readFw(rig.link, 'ar-1');
      return fw && fw.state === 0 && fw.attempt !== before?.attempt ? fw : undefined;
    });
    expect(reset).toMatchObject({ result: 6, code: 'downgrade-refused', version: '1.6.0' });
    expect(reset.reason).toMatch(/the factory image 1\.0\.0 is below the security floor 1\.5\.0/);
    expect(await read('ar-1', '/5/0/26246')).toBe('1.5.0');
  });

  it('a factory reset to an older factory image is the one downgrade no job has to allow; the configured floor outlives it', async () => {
    const v3 = await serve(await makePackage(rig.ws, '3.0.0'));
    device('ar-2', { agentSet: ['securityFloor="0.5.0"'] });
    await online('ar-2');
    expect(await driveUpdate(rig.link, 'ar-2', v3.url('/fw.fota'))).toMatchObject({ result: 1, version: '3.0.0' });
    // raise the floor over the wire (configuration object), then factory-reset: the remote configuration is forgotten
    expect((await rig.link.request('ar-2', { op: 'write', path: '/26241/0/19', value: '0.8.0' }, 5000)).code).toBe('2.04');
    await waitFor('the new floor', 30_000, async () => ((await rig.link.request('ar-2', { op: 'read', path: '/5/0/26246' }, 2000).catch(() => undefined))?.value === '0.8.0' ? true : undefined));
    const before = await readFw(rig.link, 'ar-2');
    await rig.link.request('ar-2', { op: 'execute', path: '/3/0/5' }, 3000);
    const reset = await waitFor('the factory reset to end', 90_000, async () => {
      const fw = await readFw(rig.link, 'ar-2');
      return fw && fw.state === 0 && fw.attempt !== before?.attempt && fw.version === '1.0.0' ? fw : undefined;
    });
    expect(reset).toMatchObject({ result: 0, version: '1.0.0' });
    expect(await read('ar-2', '/26241/0/19')).toBe('0.5.0'); // the configuration went back to the shipped one…
    expect(await read('ar-2', '/5/0/26246')).toBe('0.8.0'); // …the floor did not
  });
});

describe('trusted keys rotated over the wire', () => {
  it('adds the next release key and retires the old one without a reflash; a package signed by the retired key is refused', async () => {
    await fota(['keygen', '-o', join(rig.ws.dir, 'next')]);
    const nextPem = await readFile(join(rig.ws.dir, 'next.pub'), 'utf8');
    const oldId = keyIdOf(createPublicKey(await readFile(rig.ws.pub, 'utf8')));
    const byOld = await serve(await makePackage(rig.ws, '2.0.0'));
    const byNext = await serve(await makePackage(rig.ws, '2.0.0', { key: join(rig.ws.dir, 'next.key') }));
    device('kr-1');
    await online('kr-1');
    const w = await rig.link.request('kr-1', { op: 'write', path: '/26241/0', value: { '17': [nextPem], '18': [oldId] } }, 5000);
    expect(w.code).toBe('2.04');
    await waitFor('the rotated keys', 30_000, async () => {
      const r = await rig.link.request('kr-1', { op: 'read', path: '/26241/0/18' }, 2000).catch(() => undefined);
      return JSON.stringify(r?.value) === JSON.stringify([oldId]) ? true : undefined;
    });
    const old = await driveUpdate(rig.link, 'kr-1', byOld.url('/fw.fota'));
    expect(old).toMatchObject({ result: 6, code: 'untrusted-key', version: '1.0.0' });
    expect(old.reason).toMatch(new RegExp(`key ${oldId}, which was retired on this device`));
    expect(await driveUpdate(rig.link, 'kr-1', byNext.url('/fw.fota'))).toMatchObject({ result: 1, version: '2.0.0' });
  });
});

describe('a slowloris package server', () => {
  it('ends the download with Update Result 4 instead of Downloading for ever (the limits, not the retry budget, end it)', async () => {
    const srv = await serve(await makePackage(rig.ws, '2.0.0'));
    // honours Range, ~20 bytes/s on every connection: each attempt delivers a few bytes, never 64 KiB
    srv.setFaults([{ on: 'every', throttle: 20 }]);
    device('sl-1', { agentSet: ['download.stallTimeoutSec=1', 'download.retries=2', 'download.initialDelaySec=0.1', 'download.maxDelaySec=0.2'] });
    await online('sl-1');
    const began = Date.now();
    const fw = await driveUpdate(rig.link, 'sl-1', srv.url('/fw.fota'), 60_000);
    // the whole download's average (download.minAverageBytesPerSec, default 256) ends it after one stall timeout
    expect(fw).toMatchObject({ state: 0, result: 4, code: 'too-slow', version: '1.0.0' });
    expect(fw.reason).toMatch(/averaged [\d.]+ bytes\/s .* below the minimum of 256 bytes\/s \(download\.minAverageBytesPerSec\)/);
    expect(srv.requests.length).toBeLessThanOrEqual(2);
    expect(Date.now() - began).toBeLessThan(30_000);
  });
});
