// A state folder or device folder that fills up or turns read-only, on real filesystems (a small tmpfs mounted for
// the test, remounted read-only: chmod does not stop root), with whole simulated devices over a real broker (issue 10
// #4, #5). Each ends in a true report (Update Result and reason in Object 5, Error Code 16 and a reason in Object 3),
// a state file that agrees or says nothing false, no temp file left, and a device that updates once there is room.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HubLink } from '../../hub/hub-link.js';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { driveUpdate, makePackage, readFw, requireBuild, startDevice, waitFor, workspace, type SimDevice, type Workspace } from '../helpers/sim-device.js';
import { mountTmpfs, type SmallFs } from '../helpers/small-fs.js';

let broker: Broker;
let ws: Workspace;
let link: HubLink;
let small: FaultServer;
let big: FaultServer;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  requireBuild();
  broker = await startMosquitto();
  ws = await workspace();
  link = await HubLink.connect({ url: broker.url, prefix: 'lwm2m' });
  small = await startFaultServer({ body: { file: await makePackage(ws, '2.0.0', { size: '64K' }) } });
  big = await startFaultServer({ body: { file: await makePackage(ws, '3.0.0', { size: '3M' }) } });
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

afterAll(async () => {
  await link?.close();
  await small?.close();
  await big?.close();
  await broker?.stop();
  await ws?.cleanup();
});

/** a device whose `where` ('state': DIR/state, 'device': all of DIR) is a tmpfs of `size` */
async function deviceOn(id: string, where: 'state' | 'device', size: string, agentSet: string[] = []): Promise<{ d: SimDevice; fs: SmallFs; state: string }> {
  const dir = join(ws.dir, id);
  const state = join(dir, 'state');
  await mkdir(state, { recursive: true });
  const fs = await mountTmpfs(where === 'state' ? state : dir, size);
  if (where === 'device') await mkdir(state);
  cleanup.push(() => fs.unmount());
  const d = startDevice(ws, id, broker.url, { agentSet: ['registration.lifetimeSec=30', ...agentSet] });
  cleanup.push(() => d.stop());
  await waitFor(`${id} to answer`, 30_000, () => readFw(link, id));
  return { d, fs, state };
}

async function read(id: string, path: string): Promise<unknown> {
  return (await link.request(id, { op: 'read', path }, 3000)).value;
}

/** temp files of interrupted or failed saves left in the state folder */
async function temps(state: string): Promise<string[]> {
  return (await readdir(state)).filter((f) => f.endsWith('.tmp'));
}

async function savedFirmware(state: string): Promise<{ phase: string; step: string | null; result: number }> {
  return (JSON.parse(await readFile(join(state, 'state.json'), 'utf8')) as { data: { firmware: { phase: string; step: string | null; result: number } } }).data.firmware;
}

describe('a full or read-only state folder', () => {
  it('full at Update: refused 5.00 with the reason, still Downloaded, Cancel works; with room again the update completes', async () => {
    const { fs, state } = await deviceOn('full-state', 'state', '1m');
    expect((await link.request('full-state', { op: 'write', path: '/5/0/1', value: small.url('/fw.fota') }, 3000)).code).toBe('2.04');
    await waitFor('Downloaded', 30_000, async () => ((await readFw(link, 'full-state'))?.state === 2 ? true : undefined));
    await fs.fill();
    const res = await link.request('full-state', { op: 'execute', path: '/5/0/2' }, 5000);
    expect(res.code).toBe('5.00');
    expect(res.reason).toMatch(/could not save its state in .*state\.json \(no space left/);
    expect(await readFw(link, 'full-state')).toMatchObject({ state: 2, version: '1.0.0' });
    expect(await read('full-state', '/3/0/11')).toEqual([16]);
    expect(String(await read('full-state', '/3/0/26241'))).toContain('no space left');
    expect(await savedFirmware(state)).toMatchObject({ phase: 'downloaded' });
    expect(await temps(state), 'no temp file is left behind').toEqual([]);
    // Cancel gives the attempt up: it may use the space the agent keeps in reserve
    expect((await link.request('full-state', { op: 'execute', path: '/5/0/10' }, 5000)).code).toBe('2.04');
    expect(await readFw(link, 'full-state')).toMatchObject({ state: 0, result: 10 });
    expect(await savedFirmware(state)).toMatchObject({ phase: 'idle', result: 10 });
    await fs.free();
    expect(await driveUpdate(link, 'full-state', small.url('/fw.fota'))).toMatchObject({ state: 0, result: 1, version: '2.0.0' });
    expect(await read('full-state', '/3/0/11')).toEqual([0]);
  });

  it('read-only mid-download: Idle + 8 with the reason at once; once writable the fault clears, the file agrees, and the next update works', async () => {
    const { fs, state } = await deviceOn('ro-state', 'state', '1m', ['download.checkpointMiB=1']);
    big.setFaults([{ on: 1, throttle: 400 * 1024 }]);
    expect((await link.request('ro-state', { op: 'write', path: '/5/0/1', value: big.url('/fw.fota') }, 3000)).code).toBe('2.04');
    await waitFor('a first checkpoint', 30_000, async () => ((await savedFirmware(state)).phase === 'downloading' && existsSync(join(state, 'state.json')) && (await read('ro-state', '/5/0/26241')) as number > 0 ? true : undefined));
    await fs.readOnly(true);
    const fw = await waitFor('the download to end', 30_000, async () => {
      const f = await readFw(link, 'ro-state');
      return f && f.state === 0 ? f : undefined;
    });
    expect(fw).toMatchObject({ result: 8, code: 'io-error', version: '1.0.0' });
    expect(fw.reason).toMatch(/could not save its state .*read-only file system.*the update was stopped/);
    expect(await read('ro-state', '/3/0/11')).toEqual([16]);
    big.setFaults([]);
    await fs.readOnly(false);
    // the agent retries its save (every lifetime/2 = 15 s): the fault clears and the file says what was reported
    await waitFor('the fault to clear', 40_000, async () => ((await read('ro-state', '/3/0/11')) as number[])[0] === 0 || undefined);
    expect(await savedFirmware(state)).toMatchObject({ phase: 'idle', result: 8 });
    expect(await driveUpdate(link, 'ro-state', small.url('/fw.fota'))).toMatchObject({ state: 0, result: 1, version: '2.0.0' });
  });

  it('read-only at start (issue 10 #5): the agent runs degraded and says why instead of exiting; it recovers when writable', async () => {
    const id = 'ro-start';
    const dir = join(ws.dir, id);
    const state = join(dir, 'state');
    await mkdir(state, { recursive: true });
    const fs = await mountTmpfs(state, '1m');
    cleanup.push(() => fs.unmount());
    await fs.readOnly(true);
    const d = startDevice(ws, id, broker.url, { agentSet: ['registration.lifetimeSec=30'] });
    cleanup.push(() => d.stop());
    await waitFor(`${id} to answer`, 30_000, () => readFw(link, id));
    expect(await read(id, '/3/0/11')).toEqual([16]);
    expect(String(await read(id, '/3/0/26241'))).toContain('read-only file system');
    const res = await link.request(id, { op: 'write', path: '/5/0/1', value: small.url('/fw.fota') }, 3000);
    expect(res).toMatchObject({ code: '5.00', reason: expect.stringContaining('read-only file system') });
    // still the first agent process: it never exited (systemd would give up after 5 failed starts)
    await new Promise((r) => setTimeout(r, 3000));
    expect(d.output()).not.toMatch(/agent exited|giving up/);
    await fs.readOnly(false);
    await waitFor('the fault to clear', 40_000, async () => ((await read(id, '/3/0/11')) as number[])[0] === 0 || undefined);
    expect(await driveUpdate(link, id, small.url('/fw.fota'))).toMatchObject({ state: 0, result: 1, version: '2.0.0' });
  });
});

describe('a full device folder', () => {
  it('full during the download: Idle + 2 saved (no temp file), no resume after a power cycle, and with room the next update works', async () => {
    // 1 MiB slot A, 1 MiB factory image and the environment fit; a 3 MiB image in slot B does not
    const { d, fs, state } = await deviceOn('full-device', 'device', '3m');
    const fw = await driveUpdate(link, 'full-device', big.url('/fw.fota'));
    expect(fw).toMatchObject({ state: 0, result: 2, code: 'no-space', version: '1.0.0' });
    expect(await savedFirmware(state)).toMatchObject({ phase: 'idle', result: 2 });
    expect(await temps(state), 'no temp file is left behind').toEqual([]);
    // a power cycle: the device starts from what it saved, and does not resume the download the hub was told failed
    await d.stop();
    const again = startDevice(ws, 'full-device', broker.url, { agentSet: ['registration.lifetimeSec=30'] });
    cleanup.push(() => again.stop());
    expect(await waitFor('full-device to answer', 30_000, () => readFw(link, 'full-device'))).toMatchObject({ state: 0, result: 2 });
    await new Promise((r) => setTimeout(r, 1000));
    expect(await readFw(link, 'full-device')).toMatchObject({ state: 0, result: 2 });
    await fs.resize('16m');
    expect(await driveUpdate(link, 'full-device', big.url('/fw.fota'))).toMatchObject({ state: 0, result: 1, version: '3.0.0' });
  });
});
