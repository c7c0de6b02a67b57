// The wire contract over a real Mosquitto broker: the agent's MQTT transport and daemon on one side, the hub's
// HubLink on the other. The platform and downloader are small fakes here; system tests run the real ones.
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../agent/core/daemon.js';
import { MqttTransport } from '../../agent/adapters/mqtt-transport.js';
import { HubLink } from '../../hub/hub-link.js';
import { topicsFor } from '../../protocol/topics.js';
import type { Registration, Presence } from '../../protocol/messages.js';
import { FakeClock, FakeDownloader, FakePlatform, MemoryStore, fakeDevice, memoryLogger, until } from '../helpers/fakes.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';

let broker: Broker;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker.stop();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function agent(id: string, opts: { backoffMs?: number } = {}) {
  const logger = memoryLogger();
  const transport = new MqttTransport({
    url: broker.url,
    clientId: `fota-agent-${id}`,
    topics: topicsFor('lwm2m', id),
    rejectUnauthorized: true,
    keepaliveSec: 5,
    protocolVersion: 4,
    connectTimeoutMs: 2000,
    backoff: { initialMs: opts.backoffMs ?? 50, maxMs: opts.backoffMs ?? 200 },
    logger,
  });
  const platform = new FakePlatform();
  const downloader = new FakeDownloader();
  let n = 0;
  const daemon = new Daemon({
    platform,
    downloader,
    transport,
    store: new MemoryStore(),
    clock: new FakeClock(),
    device: fakeDevice,
    logger,
    newId: () => `${id}-${++n}`,
    options: { deviceId: id, agentVersion: '9.9.9', lifetimeSec: 300, progressIntervalMs: 0, healthConnectTimeoutMs: 1000 },
  });
  await daemon.start();
  cleanups.push(() => daemon.stop());
  await until(() => transport.connected, 'agent connected', 5000);
  return { daemon, transport, platform, downloader, logger };
}

async function hub() {
  const link = await HubLink.connect({ url: broker.url, prefix: 'lwm2m' });
  cleanups.push(() => link.close());
  return link;
}

/** a raw MQTT client for sending what a well-behaved hub never would */
async function raw() {
  const c = await mqtt.connectAsync(broker.url, { clientId: `raw-${Math.random().toString(16).slice(2)}` });
  cleanups.push(() => c.endAsync());
  return c;
}

describe('wire contract over Mosquitto', () => {
  it('read / write / execute round trips with LwM2M codes', async () => {
    await agent('dev-a');
    const link = await hub();
    expect(await link.request('dev-a', { op: 'read', path: '/3/0/3' }, 3000)).toMatchObject({ code: '2.05', value: '1.0.0' });
    expect(await link.request('dev-a', { op: 'read', path: '/3/0/17' }, 3000)).toMatchObject({ code: '2.05', value: 'fota-sim' });
    expect((await link.request('dev-a', { op: 'execute', path: '/5/0/2' }, 3000)).code).toBe('4.05');
    expect((await link.request('dev-a', { op: 'read', path: '/42' }, 3000)).code).toBe('4.04');
    const w = await link.request('dev-a', { op: 'write', path: '/5/0/1', value: 'https://example.invalid/p.tar' }, 3000);
    expect(w.code).toBe('2.04');
  });

  it('registration is retained with objects and agent version; presence goes online', async () => {
    await agent('dev-b');
    const link = await hub();
    const regs: Registration[] = [];
    const pres: Presence[] = [];
    link.on({ registration: (ep, r) => ep === 'dev-b' && regs.push(r), presence: (ep, p) => ep === 'dev-b' && pres.push(p) });
    await link.followRegistrations();
    await until(() => regs.length > 0 && pres.length > 0, 'retained registration');
    expect(regs[0]).toMatchObject({ ep: 'dev-b', objects: ['/3/0', '/5/0'], agent: { name: 'fota-agent', version: '9.9.9' }, lwm2m: '1.2' });
    expect(pres.at(-1)?.online).toBe(true);
  });

  it('malformed requests never crash the agent; those with an id get 4.00 and a reason', async () => {
    const a = await agent('dev-c');
    const c = await raw();
    const t = topicsFor('lwm2m', 'dev-c');
    const answers: Record<string, unknown>[] = [];
    await c.subscribeAsync(t.response);
    c.on('message', (_topic, p) => answers.push(JSON.parse(p.toString()) as Record<string, unknown>));
    await c.publishAsync(t.request, 'not json at all');
    await c.publishAsync(t.request, Buffer.from([0xff, 0xfe, 0x00]));
    await c.publishAsync(t.request, JSON.stringify({ op: 'read', path: '/3/0/3' })); // no id: nothing to answer to
    await c.publishAsync(t.request, JSON.stringify({ id: 'bad1', op: 'delete', path: '/3/0' }));
    await c.publishAsync(t.request, JSON.stringify({ id: 'bad2', op: 'read', path: '3/0/3' }));
    await c.publishAsync(t.request, JSON.stringify({ id: 'bad3', op: 'write', path: '/5/0/1' }));
    await c.publishAsync(t.request, JSON.stringify({ id: 'bad4', op: 'read', path: '/3/0/3', extra: 1 }));
    await c.publishAsync(t.request, 'x'.repeat(70 * 1024));
    await c.publishAsync(t.request, JSON.stringify({ id: 'good', op: 'read', path: '/3/0/3' }));
    await until(() => answers.some((a) => a.id === 'good'), 'answer to the good request', 5000);
    const byId = Object.fromEntries(answers.map((x) => [x.id as string, x]));
    for (const id of ['bad1', 'bad2', 'bad3', 'bad4']) {
      expect(byId[id]).toMatchObject({ code: '4.00' });
      expect(String(byId[id]?.reason).length).toBeGreaterThan(5);
    }
    expect(byId.bad1?.reason).toContain('op');
    expect(byId.good).toMatchObject({ code: '2.05', value: '1.0.0' });
    expect(answers).toHaveLength(5);
    expect(a.transport.connected).toBe(true);
  });

  it('observed State changes are notified without polling', async () => {
    await agent('dev-d');
    const link = await hub();
    const seen: unknown[] = [];
    const obs = await link.request('dev-d', { op: 'observe', path: '/5/0/3' }, 3000);
    link.on({ notification: (ep, n) => ep === 'dev-d' && n.token === obs.id && seen.push(n.value) });
    await link.request('dev-d', { op: 'write', path: '/5/0/1', value: 'https://example.invalid/p.tar' }, 3000);
    await until(() => seen.length >= 2, 'Downloading and Downloaded notifications');
    expect(seen.slice(0, 2)).toEqual([1, 2]);
  });

  it('reconnects after a broker outage and registers again (observations must be re-made)', async () => {
    const a = await agent('dev-e');
    const first = a.transport;
    await broker.pause();
    await until(() => !first.connected, 'disconnect noticed', 5000);
    await broker.resume();
    await until(() => a.logger.lines.filter((l) => l.msg === 'registered').length >= 2, 'registered again', 10_000);
    expect(first.connected).toBe(true);
    const link = await hub();
    expect((await link.request('dev-e', { op: 'read', path: '/5/0/3' }, 3000)).code).toBe('2.05');
  });

  it('the last will marks a device that vanishes as offline', async () => {
    const a = await agent('dev-f');
    const link = await hub();
    const pres: boolean[] = [];
    link.on({ presence: (ep, p) => ep === 'dev-f' && pres.push(p.online) });
    await link.followRegistrations();
    await until(() => pres.at(-1) === true, 'online');
    // drop the TCP connection without a DISCONNECT, as a power cut would
    (a.transport as unknown as { client: { stream: { destroy(): void } } }).client.stream.destroy();
    await until(() => pres.at(-1) === false, 'offline via last will', 5000);
  });
});
