// Remote configuration (Object 26241) against real agent processes (`fota sim run`) on a real Mosquitto: writes at
// the same time all land, a change that cannot connect is reverted (confirm or revert), a corrupt file falls back on
// its backup and says so, and a write that changes nothing restarts nothing.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubLink } from '../../hub/hub-link.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { rawClient, type RawClient } from '../helpers/raw-client.js';
import { readFw, requireBuild, startDevice, waitFor, workspace, type SimDevice, type Workspace } from '../helpers/sim-device.js';

let broker: Broker;
let secured: Broker;
let ws: Workspace;
let link: HubLink;
let raw: RawClient;
const devices: SimDevice[] = [];

beforeAll(async () => {
  requireBuild();
  broker = await startMosquitto();
  secured = await startMosquitto({ users: { hub: 'hub-secret', 'cfg-lock': 'right-password' } });
  ws = await workspace();
  link = await HubLink.connect({ url: broker.url, prefix: 'lwm2m' });
  raw = await rawClient(broker.url, 'config-writer');
}, 60_000);

afterAll(async () => {
  await Promise.all(devices.map((d) => d.stop()));
  await raw?.close();
  await link?.close();
  await broker?.stop();
  await secured?.stop();
  await ws?.cleanup();
});

const restarts = (d: SimDevice) => d.output().split('agent restarting (new configuration)').length - 1;
const online = (l: HubLink, d: SimDevice, ms = 30_000) => waitFor(`${d.id} online`, ms, () => readFw(l, d.id));
const answer = (id: string) => waitFor(`the answer to ${id}`, 10_000, async () => raw.responses.find((r) => r.id === id));
const read = async (l: HubLink, ep: string) => (await l.request(ep, { op: 'read', path: '/26241/0' }, 5000)).value as Record<string, unknown>;

describe('remote configuration', () => {
  it('writes at the same time all land: each answered 2.04, all saved, valid JSON (was 5.00, a lost value, a corrupt file)', async () => {
    const d = startDevice(ws, 'cfg-race', broker.url);
    devices.push(d);
    await online(link, d);
    const writes = [
      { id: 'race-1', op: 'write', path: '/26241/0/5', value: 3 },
      { id: 'race-2', op: 'write', path: '/26241/0/14', value: 'warn' },
      { id: 'race-3', op: 'write', path: '/26241/0', value: { '6': 2, '13': 500 } },
    ];
    await Promise.all(writes.map((w) => raw.send('cfg-race', w)));
    for (const w of writes) expect(await answer(w.id)).toMatchObject({ code: '2.04' });
    await waitFor('the restart', 20_000, async () => (restarts(d) >= 1 ? true : undefined));
    await online(link, d);
    expect(await read(link, 'cfg-race')).toMatchObject({ '5': 3, '14': 'warn', '6': 2, '13': 500 });
    const saved = JSON.parse(await readFile(join(d.dir, 'state', 'config-overrides.json'), 'utf8')) as { data: { values: Record<string, unknown> } };
    expect(saved.data.values).toEqual({ 'download.retries': 3, logLevel: 'warn', 'download.initialDelaySec': 2, progressIntervalMs: 500 });
  }, 60_000);

  it('a write that changes nothing saves nothing and restarts nothing', async () => {
    const d = devices.find((x) => x.id === 'cfg-race')!;
    const before = restarts(d);
    const file = join(d.dir, 'state', 'config-overrides.json');
    const savedBefore = await readFile(file, 'utf8');
    expect((await link.request('cfg-race', { op: 'write', path: '/26241/0/5', value: 3 }, 5000)).code).toBe('2.04');
    await new Promise((r) => setTimeout(r, 1500));
    expect(restarts(d)).toBe(before);
    expect(await readFile(file, 'utf8')).toBe(savedBefore);
  }, 30_000);

  it('a corrupt configuration file never silently drops the settings: the backup is used and the hub is told', async () => {
    const d = devices.find((x) => x.id === 'cfg-race')!;
    await d.stop();
    await writeFile(join(d.dir, 'state', 'config-overrides.json'), '{"format":1,"data":{"revision":');
    const again = startDevice(ws, 'cfg-race', broker.url);
    devices.push(again);
    await online(link, again);
    const now = await read(link, 'cfg-race');
    expect(now).toMatchObject({ '5': 3, '14': 'warn', '6': 2, '100': 3 });
    expect(String(now['101'])).toMatch(/config-overrides\.json is not valid JSON: using its backup copy/);
    expect(again.output()).toMatch(/"msg":"configuration changes from the hub".*not valid JSON/);
    await again.stop();
  }, 60_000);

  it('a password without a user name is refused at once; nothing changes', async () => {
    const d = startDevice(ws, 'cfg-nouser', broker.url);
    devices.push(d);
    await online(link, d);
    const r = await link.request('cfg-nouser', { op: 'write', path: '/26241/0/3', value: 'secret' }, 5000);
    expect(r).toMatchObject({ code: '4.00', reason: expect.stringContaining('broker.username') });
    await new Promise((res) => setTimeout(res, 1000));
    expect(restarts(d)).toBe(0);
    await d.stop();
  }, 60_000);

  it('a wrong password is tried, does not connect, and is reverted: the device comes back and says why (was locked out)', async () => {
    const hub = await HubLink.connect({ url: secured.url, prefix: 'lwm2m', username: 'hub', password: 'hub-secret' });
    try {
      const d = startDevice(ws, 'cfg-lock', secured.url, { agentSet: ['broker.username="cfg-lock"', 'broker.password="right-password"', 'broker.confirmTimeoutSec=15'] });
      devices.push(d);
      await online(hub, d);
      expect((await hub.request('cfg-lock', { op: 'write', path: '/26241/0/3', value: 'typo-password' }, 5000)).code).toBe('2.04');
      await waitFor('the restart with the new password', 20_000, async () => (restarts(d) >= 1 ? true : undefined));
      await waitFor('the revert', 60_000, async () => (restarts(d) >= 2 ? true : undefined));
      await online(hub, d, 30_000);
      const now = await read(hub, 'cfg-lock');
      expect(now['100']).toBe(0);
      expect(String(now['101'])).toMatch(/^revision 1 \(broker\.password\) reverted to revision 0: the agent did not connect to the broker within 15 s with it/);
      expect(d.output()).toContain('configuration change reverted');
      // a good change afterwards is kept
      expect((await hub.request('cfg-lock', { op: 'write', path: '/26241/0/0', value: 45 }, 5000)).code).toBe('2.04');
      await waitFor('the third restart', 20_000, async () => (restarts(d) >= 3 ? true : undefined));
      await online(hub, d);
      await waitFor('the change to be kept', 10_000, async () => (String((await read(hub, 'cfg-lock'))['101']).includes('kept') ? true : undefined));
      expect(await read(hub, 'cfg-lock')).toMatchObject({ '0': 45, '100': 1 });
      await d.stop();
    } finally {
      await hub.close();
    }
  }, 150_000);
});
