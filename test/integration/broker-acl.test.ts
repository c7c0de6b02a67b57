// Device identity on the broker, tried as an attacker holding one device's credentials: on a real Mosquitto running
// the shipped configuration (deploy/mosquitto/) with passwords and with its client-certificate variant, and on the
// embedded broker with the same users and ACL. A device cannot read or write another device's topics, cannot pose as
// the hub, cannot take another device's session, and nobody gets in without credentials of its own.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubLink } from '../../hub/hub-link.js';
import { withUser, hashPassword } from '../../hub/broker/password-file.js';
import { encode } from '../../protocol/messages.js';
import { topicsFor } from '../../protocol/topics.js';
import { startEmbeddedFotaBroker, startShippedMosquitto, type FotaBroker } from '../helpers/fota-broker.js';
import { requireBuild } from '../helpers/sim-device.js';

const DEVICES = ['dev-a', 'dev-b'];
const A = topicsFor('lwm2m', 'dev-a');
const B = topicsFor('lwm2m', 'dev-b');
const reg = (ep: string, regId: string) => encode({ op: 'register', ep, lwm2m: '1.2', lt: 300, objects: ['/3/0', '/5/0'], agent: { name: 'fota-agent', version: '6.6.6' }, regId, time: Date.now() });
const quiet = () => new Promise((r) => setTimeout(r, 400));

/** Connects a plain MQTT client; resolves once connected, rejects with the broker's refusal. */
function client(url: string, opts: IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, clean: true, rejectUnauthorized: true, ...opts });
    c.once('connect', () => resolve(c));
    c.once('error', (e) => {
      c.end(true);
      reject(e);
    });
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

function received(c: MqttClient): string[] {
  const got: string[] = [];
  c.on('message', (topic) => got.push(topic));
  return got;
}

function subscribed(c: MqttClient, topics: string[]): Promise<void> {
  return new Promise((resolve, reject) => c.subscribe(topics, { qos: 1 }, (e) => (e ? reject(e) : resolve())));
}

/** Publishes at QoS 1; resolves on the PUBACK, or when the broker drops the client for it (the embedded one does). */
function published(c: MqttClient, topic: string, payload: string, retain = false): Promise<void> {
  return new Promise((resolve) => {
    c.once('close', () => resolve());
    c.publish(topic, payload, { qos: 1, retain }, () => resolve());
  });
}

const KINDS = [
  { name: 'Mosquitto with deploy/mosquitto/', start: () => startShippedMosquitto(DEVICES) },
  { name: 'Mosquitto with deploy/mosquitto/ and client certificates', start: () => startShippedMosquitto(DEVICES, { certificates: true }) },
  { name: 'the embedded broker with --mqtt-passwd', start: async () => startEmbeddedFotaBroker(DEVICES, (scratch = await mkdtemp(join(tmpdir(), 'fota-acl-')))) },
];
let scratch: string | undefined;

for (const { name, start } of KINDS) describe(`device identity on ${name}`, () => {
  let b: FotaBroker;
  let hub: HubLink;
  let devB: MqttClient;
  const seen: string[] = [];
  const clients: MqttClient[] = [];
  const device = async (user: string, clientId: string) => {
    const c = await client(b.deviceUrl, { ...b.login(user), clientId });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    requireBuild();
    b = await start();
    hub = await HubLink.connect({ url: b.hubUrl, prefix: 'lwm2m', fleet: true, username: 'fota-hub', password: b.secrets['fota-hub'] as string });
    hub.on({ registration: (ep) => seen.push(`registration ${ep}`), presence: (ep) => seen.push(`presence ${ep}`), notification: (ep) => seen.push(`notification ${ep}`) });
    devB = await device('dev-b', 'fota-agent-dev-b');
    await subscribed(devB, [B.request]);
    // dev-b answers every request, as an agent would
    devB.on('message', (_t, p) => void published(devB, B.response, encode({ id: (JSON.parse(p.toString()) as { id: string }).id, code: '2.05', value: '1.0.0' })));
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.end(true);
    await hub?.close();
    await b?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
    scratch = undefined;
  });

  it('refuses clients without credentials or with wrong ones (a wrong password, a certificate from another CA)', async () => {
    for (const bad of b.badLogins) await expect(client(b.deviceUrl, { ...bad, clientId: 'intruder' })).rejects.toThrow(/Not authorized|Bad username or password|closed|certificate|alert|socket|ECONNRESET/i);
    await expect(client(b.hubUrl, { clientId: 'anon-hub' })).rejects.toThrow(/Not authorized|Bad username or password|closed/i);
  });

  it('lets a device register itself, and the hub ask it and hear its answer', async () => {
    const a = await device('dev-a', 'fota-agent-dev-a');
    await published(a, A.registration, reg('dev-a', 'r1'), true);
    await published(a, A.presence, encode({ online: true }), true);
    await quiet();
    expect(seen).toEqual(expect.arrayContaining(['registration dev-a', 'presence dev-a']));
    expect(await hub.request('dev-b', { op: 'read', path: '/3/0/3' }, 3000)).toMatchObject({ code: '2.05', value: '1.0.0' });
    a.end(true);
  });

  it("a device cannot write another device's topics: forged registrations, answers and notifications never reach the hub", async () => {
    seen.length = 0;
    const forged = [
      [B.registration, reg('dev-b', 'forged')],
      [B.presence, encode({ online: false })],
      [topicsFor('lwm2m', 'ghost1').registration, reg('ghost1', 'g1')],
      [B.notify, encode({ token: 't', path: '/5/0', value: { '3': 0, '5': 1 }, seq: 1, time: 0 })],
      [B.response, encode({ id: 'any', code: '2.04' })],
    ] as const;
    for (const [topic, payload] of forged) {
      // a fresh connection each time: the embedded broker drops a client whose publish it refuses
      const a = await device('dev-a', `attacker-${topic.length}`);
      await published(a, topic, payload, true);
      a.end(true);
    }
    await quiet();
    expect(seen).toEqual([]);
    // and a newcomer subscribing now gets no forged retained message either
    const late = await HubLink.connect({ url: b.hubUrl, prefix: 'lwm2m', fleet: true, username: 'fota-hub', password: b.secrets['fota-hub'] as string });
    const lateSeen: string[] = [];
    late.on({ registration: (ep, r) => lateSeen.push(`${ep} ${r.regId}`) });
    await quiet();
    await late.close();
    expect(lateSeen.filter((l) => l.includes('forged') || l.startsWith('ghost1'))).toEqual([]);
  });

  it("a device cannot read another device's requests, nor pose as the hub", async () => {
    const a = await device('dev-a', 'snoop');
    const snooped = received(a);
    await subscribed(a, ['lwm2m/#', B.request, 'lwm2m/dm/+/res']);
    const toB = received(devB);
    expect(await hub.request('dev-b', { op: 'read', path: '/3/0/3' }, 3000)).toMatchObject({ code: '2.05' });
    // dev-a tries the hub's part: a request to dev-b
    await published(a, B.request, encode({ id: 'evil', op: 'execute', path: '/3/0/4' }));
    await quiet();
    expect(snooped.filter((t) => t !== A.request)).toEqual([]);
    expect(toB).toEqual([B.request]); // the hub's request only, not dev-a's
  });

  it("a device cannot take another device's session with its client id", async () => {
    let dropped = false;
    devB.once('close', () => (dropped = true));
    for (const clientId of ['fota-agent-dev-b', 'dev-b']) {
      const a = await device('dev-a', clientId).catch(() => undefined);
      a?.end(true);
    }
    await quiet();
    expect(dropped).toBe(false);
    expect(await hub.request('dev-b', { op: 'read', path: '/3/0/3' }, 3000)).toMatchObject({ code: '2.05' });
  });

  // Mosquitto with passwords only: it has a hub listener apart from the devices' one; on the embedded broker the hub account is the hub
  if (name === 'Mosquitto with deploy/mosquitto/') it('a device account named like the hub gets no hub rights, and device accounts cannot log in as the hub', async () => {
    // written by hand (fota broker add-device refuses the name): the devices' listener has no hub ACL at all
    const file = join(b.dir, 'devices.passwd');
    await writeFile(file, withUser(await readFile(file, 'utf8'), 'fota-hub', hashPassword('x')), { mode: 0o644 });
    await b.mosquitto!.pause(); // a restart reads the password file again
    await b.mosquitto!.resume();
    const fake = await client(b.deviceUrl, { ca: b.ca as string, username: 'fota-hub', password: 'x', clientId: 'fake-hub' });
    clients.push(fake);
    const got = received(fake);
    await subscribed(fake, ['lwm2m/#']);
    await hub.request('dev-b', { op: 'read', path: '/3/0/3' }, 5000).catch(() => undefined);
    await quiet();
    expect(got).toEqual([]);
    await expect(client(b.hubUrl, { clientId: 'x', username: 'dev-a', password: b.secrets['dev-a'] as string })).rejects.toThrow(/Not authorized|Bad username or password|closed/i);
  });
});
