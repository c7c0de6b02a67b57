// The agent's MQTT transport with its incoming packet cap on a real Mosquitto, over plain TCP, TLS and MQTT 5:
// oversized requests are dropped without being buffered, the next request still arrives, TLS still verifies.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PACKET_REMAINING, MqttTransport } from '../../agent/adapters/mqtt-transport.js';
import type { Request } from '../../protocol/messages.js';
import { topicsFor } from '../../protocol/topics.js';
import { memoryLogger, until } from '../helpers/fakes.js';
import { freePort } from '../helpers/mosquitto.js';
import { makeTestCerts, type TestCerts } from '../helpers/tls.js';

let dir: string;
let certs: TestCerts;
let broker: ChildProcess;
let plainPort: number;
let tlsPort: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fota-cap-'));
  // mosquitto started as root reads its files as the "mosquitto" user (its `user` option)
  await chmod(dir, 0o755);
  certs = await makeTestCerts();
  await writeFile(join(dir, 'ca.crt'), certs.ca);
  await writeFile(join(dir, 'server.crt'), certs.cert);
  await writeFile(join(dir, 'server.key'), certs.key, { mode: 0o644 });
  plainPort = await freePort();
  tlsPort = await freePort();
  const conf = [
    'per_listener_settings false',
    'allow_anonymous true',
    'persistence false',
    'log_dest stderr',
    'log_type error',
    `listener ${plainPort} 127.0.0.1`,
    `listener ${tlsPort} 127.0.0.1`,
    `cafile ${join(dir, 'ca.crt')}`,
    `certfile ${join(dir, 'server.crt')}`,
    `keyfile ${join(dir, 'server.key')}`,
    '',
  ].join('\n');
  await writeFile(join(dir, 'mosquitto.conf'), conf);
  broker = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  broker.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const probe = async (port: number) => {
    for (let i = 0; i < 100; i++) {
      const ok = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 500 }).then((c) => c.endAsync().then(() => true), () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`mosquitto did not start: ${stderr}`);
  };
  await probe(plainPort);
});

afterAll(async () => {
  broker?.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
});

function transport(url: string, opts: { ca?: string; protocolVersion?: 4 | 5 } = {}) {
  const logger = memoryLogger();
  const requests: Request[] = [];
  let subscribed = false;
  const t = new MqttTransport({
    url,
    clientId: `cap-${Math.random().toString(16).slice(2)}`,
    topics: topicsFor('lwm2m', 'cap'),
    ...(opts.ca ? { ca: opts.ca } : {}),
    rejectUnauthorized: true,
    keepaliveSec: 10,
    protocolVersion: opts.protocolVersion ?? 4,
    connectTimeoutMs: 2000,
    backoff: { initialMs: 100, maxMs: 500 },
    logger,
  });
  void t.start({ request: (r) => requests.push(r), refused: () => undefined, connected: () => (subscribed = true), disconnected: () => undefined });
  return { t, logger, requests, subscribed: () => subscribed };
}

async function sendBigThenSmall(url: string, ca?: string) {
  const c = await mqtt.connectAsync(url, { ...(ca ? { ca } : {}), protocolVersion: 4 });
  const topic = topicsFor('lwm2m', 'cap').request;
  await c.publishAsync(topic, Buffer.alloc(MAX_PACKET_REMAINING + 100_000, 0x7b), { qos: 1 });
  await c.publishAsync(topic, JSON.stringify({ id: 'after', op: 'read', path: '/3/0' }), { qos: 1 });
  await c.endAsync();
}

describe('MQTT transport: incoming packet cap', () => {
  it('plain MQTT 3.1.1: an oversized request is dropped on the way in; the next one arrives', async () => {
    const { t, logger, requests, subscribed } = transport(`mqtt://127.0.0.1:${plainPort}`);
    await until(subscribed, 'subscribed', 5000);
    await sendBigThenSmall(`mqtt://127.0.0.1:${plainPort}`);
    await until(() => requests.length === 1, 'the next request', 5000);
    expect(requests[0]!.id).toBe('after');
    expect(logger.lines.find((l) => String(l.msg).startsWith('dropped an oversized MQTT message'))).toMatchObject({ bytes: expect.any(Number), topic: 'lwm2m/dm/cap/req' });
    expect(t.connected).toBe(true);
    await t.stop();
  });

  it('TLS: the cap sits on the TLS stream; the broker is still verified (an unknown CA never connects)', async () => {
    const url = `mqtts://127.0.0.1:${tlsPort}`;
    const { t, logger, requests, subscribed } = transport(url, { ca: certs.ca });
    await until(subscribed, 'subscribed over TLS', 5000);
    await sendBigThenSmall(url, certs.ca);
    await until(() => requests.length === 1, 'the next request', 5000);
    expect(logger.lines.some((l) => String(l.msg).startsWith('dropped an oversized MQTT message'))).toBe(true);
    await t.stop();

    const other = await makeTestCerts();
    const bad = transport(url, { ca: other.ca });
    await until(() => bad.logger.lines.some((l) => l.msg === 'mqtt error'), 'a TLS error', 5000);
    expect(bad.t.connected).toBe(false);
    await bad.t.stop();
  });

  it('MQTT 5: the agent announces its maximum packet size, so the broker does not even send an oversized request', async () => {
    const { t, logger, requests, subscribed } = transport(`mqtt://127.0.0.1:${plainPort}`, { protocolVersion: 5 });
    await until(subscribed, 'subscribed', 5000);
    await sendBigThenSmall(`mqtt://127.0.0.1:${plainPort}`);
    await until(() => requests.length === 1, 'the next request', 5000);
    expect(logger.lines.some((l) => String(l.msg).startsWith('dropped an oversized MQTT message'))).toBe(false);
    await t.stop();
  });
});
