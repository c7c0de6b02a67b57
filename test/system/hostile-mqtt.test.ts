// Hostile MQTT input against a real agent process (`fota sim run`) on a real Mosquitto: oversized messages never
// become a buffer in the agent (the packet cap), and the agent stays reachable afterwards.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubLink } from '../../hub/hub-link.js';
import { topicsFor } from '../../protocol/topics.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { agentPid, readFw, requireBuild, rssKiB, startDevice, waitFor, workspace, type SimDevice, type Workspace } from '../helpers/sim-device.js';

let broker: Broker;
let ws: Workspace;
let link: HubLink;
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
  await broker?.stop();
  await ws?.cleanup();
});

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

/**
 * Publishes `bytes` of payload on `topic` over a raw MQTT 3.1.1 connection, streaming it in 1 MiB pieces so that the
 * test process never holds it (Mosquitto does, as any broker without a size limit would).
 */
async function publishHuge(port: number, topic: string, bytes: number, opts: { retain?: boolean } = {}): Promise<void> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  const id = Buffer.from('huge-publisher');
  const connect = Buffer.concat([Buffer.from([0x00, 0x04]), Buffer.from('MQTT'), Buffer.from([0x04, 0x02, 0x00, 0x3c, 0x00, id.length]), id]);
  sock.write(Buffer.concat([Buffer.from([0x10]), remainingLength(connect.length), connect]));
  const t = Buffer.from(topic);
  const head = Buffer.concat([Buffer.from([t.length >> 8, t.length & 0xff]), t, Buffer.from([0x00, 0x01])]); // packet id 1 (QoS 1)
  sock.write(Buffer.concat([Buffer.from([0x32 | (opts.retain ? 1 : 0)]), remainingLength(head.length + bytes), head]));
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

describe('oversized MQTT messages', () => {
  it('a 128 MiB request, plain then retained, never becomes a buffer in the agent; it stays reachable (was +256 MiB)', async () => {
    const d = startDevice(ws, 'huge', broker.url);
    devices.push(d);
    await online(d);
    const pid = (await agentPid(d))!;
    const before = (await rssKiB(pid))!;
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
