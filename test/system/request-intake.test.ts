// Hostile request intake against real agent processes (`fota sim run`) on a real Mosquitto: retained requests are
// never acted on, and one request id is acted on at most once, across agent restarts and reboots too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubLink } from '../../hub/hub-link.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { rawClient, type RawClient } from '../helpers/raw-client.js';
import { readFw, requireBuild, startDevice, waitFor, workspace, type SimDevice, type Workspace } from '../helpers/sim-device.js';

let broker: Broker;
let ws: Workspace;
let link: HubLink;
let raw: RawClient;
const devices: SimDevice[] = [];

beforeAll(async () => {
  requireBuild();
  broker = await startMosquitto();
  ws = await workspace();
  link = await HubLink.connect({ url: broker.url, prefix: 'lwm2m' });
  raw = await rawClient(broker.url, 'hostile-hub');
}, 60_000);

afterAll(async () => {
  await Promise.all(devices.map((d) => d.stop()));
  await raw?.close();
  await link?.close();
  await broker?.stop();
  await ws?.cleanup();
});

const count = (text: string, needle: string) => text.split(needle).length - 1;
const reboots = (d: SimDevice) => count(d.output(), 'agent requested a reboot');
const restarts = (d: SimDevice) => count(d.output(), 'agent restarting (new configuration)');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const publish = (ep: string, body: Record<string, unknown>, retain = false) => raw.send(ep, body, { retain });
const responses = () => raw.responses;

async function online(d: SimDevice): Promise<void> {
  await waitFor(`${d.id} online`, 30_000, () => readFw(link, d.id));
}

describe('request intake: retained and replayed requests', () => {
  it('a retained Reboot or configuration write is never acted on (was a reboot/restart loop)', async () => {
    await publish('ret-reboot', { id: 'retained-reboot', op: 'execute', path: '/3/0/4' }, true);
    await publish('ret-config', { id: 'retained-config', op: 'write', path: '/26241/0/14', value: 'warn' }, true);
    const a = startDevice(ws, 'ret-reboot', broker.url);
    const b = startDevice(ws, 'ret-config', broker.url);
    devices.push(a, b);
    await Promise.all([online(a), online(b)]);
    // long enough for several loops on the old code (a reboot took well under a second there)
    await sleep(8000);
    expect(reboots(a)).toBe(0);
    expect(restarts(b)).toBe(0);
    expect(a.output()).toContain('ignored a retained request');
    // the configuration did not change
    expect((await link.request('ret-config', { op: 'read', path: '/26241/0/14' }, 3000)).value).toBe('info');
    // the hub learns why, once per delivery
    expect(responses().find((r) => r.id === 'retained-reboot')).toMatchObject({ code: '4.00', reason: expect.stringContaining('retained') });
    await raw.send('ret-reboot', '', { retain: true });
    await raw.send('ret-config', '', { retain: true });
    await Promise.all([a.stop(), b.stop()]);
  }, 90_000);

  it('a replayed Reboot or configuration write (same id) is answered again but not acted on, across reboots', async () => {
    const d = startDevice(ws, 'replay', broker.url);
    devices.push(d);
    await online(d);
    await publish('replay', { id: 'reboot-once', op: 'execute', path: '/3/0/4' });
    await waitFor('the first reboot', 20_000, async () => (reboots(d) === 1 ? true : undefined));
    await online(d);
    const before = responses().filter((r) => r.id === 'reboot-once').length;
    await publish('replay', { id: 'reboot-once', op: 'execute', path: '/3/0/4' });
    await waitFor('the replay to be answered', 10_000, async () => (responses().filter((r) => r.id === 'reboot-once').length > before ? true : undefined));
    expect(responses().filter((r) => r.id === 'reboot-once').at(-1)).toMatchObject({ code: '2.04' });

    await publish('replay', { id: 'config-once', op: 'write', path: '/26241/0/5', value: 3 });
    await waitFor('the restart for the new configuration', 20_000, async () => (restarts(d) === 1 ? true : undefined));
    await online(d);
    // a hub changes the value back; then an old write is replayed: it must not take effect again
    expect((await link.request('replay', { op: 'write', path: '/26241/0/5', value: 4 }, 3000)).code).toBe('2.04');
    await waitFor('the second restart', 20_000, async () => (restarts(d) === 2 ? true : undefined));
    await online(d);
    await publish('replay', { id: 'config-once', op: 'write', path: '/26241/0/5', value: 3 });
    await sleep(3000);
    expect(reboots(d)).toBe(1);
    expect(restarts(d)).toBe(2);
    expect((await link.request('replay', { op: 'read', path: '/26241/0/5' }, 3000)).value).toBe(4);
    await d.stop();
  }, 120_000);
});
