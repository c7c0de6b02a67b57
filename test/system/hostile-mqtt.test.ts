// Hostile MQTT input against a real agent process (`fota sim run`) on a real Mosquitto: oversized messages never
// become a buffer in the agent (the packet cap), a flood of writes neither grows it nor delays the requests that
// matter, and 10,000+ fuzzed messages leave it answering and able to update. Figures: docs/reliability.md.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubLink } from '../../hub/hub-link.js';
import { startPackageServer, type PackageServer } from '../../hub/package-server.js';
import type { Response } from '../../protocol/messages.js';
import { topicsFor } from '../../protocol/topics.js';
import { encodeLength } from '../../agent/adapters/mqtt-packet-cap.js';
import { hostile, seeded, type HostileClass } from '../helpers/hostile-messages.js';
import { rawClient } from '../helpers/raw-client.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { agentPid, driveUpdate, makePackage, readFw, requireBuild, rssKiB, startDevice, waitFor, workspace, type SimDevice, type Workspace } from '../helpers/sim-device.js';

let broker: Broker;
let ws: Workspace;
let link: HubLink;
let pkgs: PackageServer | undefined;
const devices: SimDevice[] = [];

beforeAll(async () => {
  requireBuild();
  broker = await startMosquitto();
  ws = await workspace();
  link = await HubLink.connect({ url: broker.url, prefix: 'lwm2m' });
}, 60_000);

afterAll(async () => {
  await Promise.all(devices.map((d) => d.stop()));
  await link?.close();
  await pkgs?.close();
  await broker?.stop();
  await ws?.cleanup();
});

/**
 * Publishes `bytes` of payload on `topic` over a raw MQTT 3.1.1 connection, streaming it in 1 MiB pieces so that the
 * test process never holds it (Mosquitto does, as any broker without a size limit would).
 */
async function publishHuge(port: number, topic: string, bytes: number, opts: { retain?: boolean } = {}): Promise<void> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  const id = Buffer.from('huge-publisher');
  const connect = Buffer.concat([Buffer.from([0x00, 0x04]), Buffer.from('MQTT'), Buffer.from([0x04, 0x02, 0x00, 0x3c, 0x00, id.length]), id]);
  sock.write(Buffer.concat([Buffer.from([0x10]), Buffer.from(encodeLength(connect.length)), connect]));
  const t = Buffer.from(topic);
  const head = Buffer.concat([Buffer.from([t.length >> 8, t.length & 0xff]), t, Buffer.from([0x00, 0x01])]); // packet id 1 (QoS 1)
  sock.write(Buffer.concat([Buffer.from([0x32 | (opts.retain ? 1 : 0)]), Buffer.from(encodeLength(head.length + bytes)), head]));
  const piece = Buffer.alloc(1 << 20, 0x7b); // '{'
  for (let sent = 0; sent < bytes; sent += piece.length) {
    if (!sock.write(piece.subarray(0, Math.min(piece.length, bytes - sent)))) await new Promise((r) => sock.once('drain', r));
  }
  // the broker's PUBACK (0x40) says it took the whole message
  await new Promise<void>((resolve, reject) => {
    sock.on('data', (d: Buffer) => d.includes(0x40) && resolve());
    sock.once('error', reject);
    setTimeout(() => reject(new Error('no PUBACK for the huge message')), 60_000);
  });
  sock.destroy();
}

const online = (d: SimDevice) => waitFor(`${d.id} online`, 30_000, () => readFw(link, d.id));

/** Starts a device, waits until it answers, and takes its agent's resident set as the baseline. */
async function measuredDevice(id: string): Promise<{ d: SimDevice; pid: number; before: number }> {
  const d = startDevice(ws, id, broker.url);
  devices.push(d);
  await online(d);
  const pid = (await agentPid(d))!;
  return { d, pid, before: (await rssKiB(pid))! };
}

describe('oversized MQTT messages', () => {
  it('a 128 MiB request, plain then retained, never becomes a buffer in the agent; it stays reachable (was +256 MiB)', async () => {
    const { d, pid, before } = await measuredDevice('huge');
    const topic = topicsFor('lwm2m', 'huge').request;
    await publishHuge(broker.port, topic, 128 << 20);
    // the agent either drops it on the way in, or (the old code) buffers it whole and refuses it after parsing
    await waitFor('the agent to refuse the message', 60_000, async () => (/dropped an oversized MQTT message|exceeds 65536/.test(d.output()) ? true : undefined));
    const after = (await rssKiB(pid))!;
    // the old code grew by 262,208 KiB (the message twice); a few MiB of slack for what the agent does meanwhile
    expect(after - before).toBeLessThan(8 * 1024);
    expect(d.output()).toContain('dropped an oversized MQTT message');
    expect(await agentPid(d)).toBe(pid);
    expect((await link.request('huge', { op: 'read', path: '/3/0/3' }, 5000)).code).toBe('2.05');

    // retained: delivered again at every subscribe; it must not become a reconnect (or buffer) loop either
    await publishHuge(broker.port, topic, 32 << 20, { retain: true });
    await d.stop();
    const again = startDevice(ws, 'huge', broker.url);
    devices.push(again);
    await online(again);
    await new Promise((r) => setTimeout(r, 3000));
    expect(again.output().split('dropped an oversized MQTT message').length - 1).toBe(1);
    expect(again.output()).not.toContain('disconnected from the broker');
    expect((await link.request('huge', { op: 'read', path: '/3/0/3' }, 5000)).code).toBe('2.05');
    const pid2 = (await agentPid(again))!;
    expect((await rssKiB(pid2))!).toBeLessThan(before + 8 * 1024);
    await publishHuge(broker.port, topic, 0, { retain: true }); // clears the retained message
    await again.stop();
  }, 180_000);
});

/** A read that waits out the agent's rate limit (5.03) rather than failing on it. */
async function readPatiently(ep: string, path: string): Promise<Response> {
  return waitFor(`${ep} to answer ${path}`, 60_000, async () => {
    const r = await link.request(ep, { op: 'read', path }, 5000).catch(() => undefined);
    return r && r.code !== '5.03' ? r : undefined;
  });
}

/** Samples a process's resident set every 100 ms until stopped; returns the highest value seen. */
function sampleRss(pid: number) {
  let peak = 0;
  let on = true;
  const loop = (async () => {
    while (on) {
      peak = Math.max(peak, (await rssKiB(pid)) ?? 0);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return async () => {
    on = false;
    await loop;
    return peak;
  };
}

describe('floods', () => {
  it('20,000 quick writes: memory bounded, few acted on, a Package URI write still answered (was +72 MiB and 54 s)', async () => {
    const { d, pid, before } = await measuredDevice('flood');
    const peak = sampleRss(pid);
    const { client: c, responses, close } = await rawClient(broker.url, 'attacker-flood', 'flood');
    const topic = topicsFor('lwm2m', 'flood').request;
    const started = Date.now();
    let last: Promise<unknown> = Promise.resolve();
    for (let i = 0; i < 20_000; i++) last = c.publishAsync(topic, JSON.stringify({ id: `f${i}`, op: 'write', path: '/3/0/15', value: i % 2 ? 'Europe/Berlin' : 'Europe/Paris' }), { qos: 0 });
    await last;
    const t0 = Date.now();
    const uri = await link.request('flood', { op: 'write', path: '/5/0/1', value: 'http://127.0.0.1:9/none.fota' }, 60_000);
    const uriMs = Date.now() - t0;
    expect(uri.code).toBe('2.04');
    await readPatiently('flood', '/3/0/3');
    const seconds = (Date.now() - started) / 1000;
    const maxKiB = await peak();
    const acted = responses.filter((r) => r.code === '2.04').length;
    console.log(`flood: Package URI answered after ${uriMs} ms; ${acted} writes acted on in ${seconds.toFixed(1)} s; RSS ${before} → peak ${maxKiB} KiB; ${responses.filter((r) => r.code === '5.03').length} answered 5.03`);
    // the device budget: a burst of 10, then 2 per second
    expect(acted).toBeLessThanOrEqual(10 + Math.ceil(2 * seconds) + 2);
    expect(maxKiB - before).toBeLessThan(24 * 1024);
    expect(await agentPid(d)).toBe(pid);
    await link.request('flood', { op: 'execute', path: '/5/0/10' }, 10_000).catch(() => undefined);
    await close();
    await d.stop();
  }, 120_000);
});

describe('MQTT fuzz', () => {
  const CLASSES: [HostileClass, number][] = [
    ['random-bytes', 2500],
    ['wrong-shapes', 2500],
    ['huge-strings', 300],
    ['deep-nesting', 300],
    ['unknown-ops-and-paths', 1500],
    ['valid-harmless', 2500],
    ['retained', 500],
  ];

  it('10,100 hostile messages: no crash, RSS bounded, then a normal update succeeds', async () => {
    const { d, pid, before } = await measuredDevice('fuzz');
    const peak = sampleRss(pid);
    const { client: c, close } = await rawClient(broker.url, 'attacker-fuzz', 'fuzz');
    const topic = topicsFor('lwm2m', 'fuzz').request;
    const r = seeded(Number(process.env.FOTA_FUZZ_SEED ?? 9));
    let sent = 0;
    for (const [kind, count] of CLASSES) {
      const batch = hostile(kind, count, r);
      for (const [i, m] of batch.entries()) {
        // QoS 0 and 1 mixed; wait for the broker now and then so that the test itself stays small
        const p = c.publishAsync(topic, m.payload, { qos: i % 2 ? 1 : 0, retain: m.retain === true });
        if (i % 200 === 0) await p;
        sent++;
      }
    }
    await c.publishAsync(topic, '', { qos: 1, retain: true }); // clears the retained one
    expect(sent).toBeGreaterThanOrEqual(10_000);
    await readPatiently('fuzz', '/3/0/3');
    const maxKiB = await peak();
    const after = (await rssKiB(pid))!;
    console.log(`fuzz: ${sent} messages; agent RSS ${before} → peak ${maxKiB} → ${after} KiB`);
    expect(await agentPid(d)).toBe(pid); // never crashed nor restarted
    expect(maxKiB - before).toBeLessThan(24 * 1024);
    expect(after - before).toBeLessThan(16 * 1024);
    expect(d.output()).not.toMatch(/uncaught exception|task failed|request failed/);

    // then a normal update, the way a hub drives it
    await makePackage(ws, '2.0.0');
    pkgs = await startPackageServer({ dir: ws.dir, host: '127.0.0.1', port: 0 });
    const fw = await driveUpdate(link, 'fuzz', pkgs.urlOf('fw-2.0.0.fota'), 120_000);
    expect(fw).toMatchObject({ state: 0, result: 1, version: '2.0.0' });
    await close();
    await d.stop();
  }, 300_000);
});
