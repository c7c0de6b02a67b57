// `fota device …` as a user runs it (the built CLI as a process) against an agent over a real Mosquitto broker:
// bare values on stdout, codes and reasons on stderr, exit codes for refusals and timeouts.
// node18-leg: no (it runs the `fota` CLI, which needs Node >= 20 and says so at start; the agent it talks to is covered there by mqtt-protocol and the contract tests)
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MqttTransport } from '../../agent/adapters/mqtt-transport.js';
import { Daemon } from '../../agent/core/daemon.js';
import { topicsFor } from '../../protocol/topics.js';
import { FakeClock, FakeDownloader, FakePlatform, MemoryStore, fakeDevice, memoryLogger, until } from '../helpers/fakes.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { FOTA, requireBuild } from '../helpers/sim-device.js';

const run = promisify(execFile);
let broker: Broker;
let daemon: Daemon;

async function fota(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [FOTA, ...args], { env: { ...process.env, FOTA_BROKER: broker.url } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

beforeAll(async () => {
  requireBuild();
  broker = await startMosquitto();
  const transport = new MqttTransport({ url: broker.url, clientId: 'fota-agent-cli-1', topics: topicsFor('lwm2m', 'cli-1'), rejectUnauthorized: true, keepaliveSec: 10, protocolVersion: 4, connectTimeoutMs: 2000, backoff: { initialMs: 50, maxMs: 200 }, logger: memoryLogger() });
  let n = 0;
  daemon = new Daemon({
    platform: new FakePlatform(),
    downloader: new FakeDownloader(),
    transport,
    store: new MemoryStore(),
    clock: new FakeClock(),
    device: fakeDevice,
    logger: memoryLogger(),
    newId: () => `id-${++n}`,
    options: { deviceId: 'cli-1', agentVersion: '9.9.9', lifetimeSec: 300, progressIntervalMs: 0, healthConnectTimeoutMs: 1000 },
  });
  await daemon.start();
  await until(() => transport.connected, 'agent connected', 5000);
}, 30_000);

afterAll(async () => {
  await daemon?.stop();
  await broker?.stop();
});

describe('fota device', () => {
  it('read prints the bare value of a resource, JSON of an instance', async () => {
    expect(await fota('device', 'cli-1', 'read', '/3/0/3')).toMatchObject({ code: 0, stdout: '1.0.0\n' });
    const inst = await fota('device', 'cli-1', 'read', '/5/0');
    expect(inst.code).toBe(0);
    expect(JSON.parse(inst.stdout)).toMatchObject({ '3': 0, '5': 0 });
  });

  it('write and exec answer 2.04; refusals exit 1 with the code and reason on stderr', async () => {
    expect(await fota('device', 'cli-1', 'write', '/3/0/15', 'Europe/Paris')).toMatchObject({ code: 0, stderr: '2.04 Changed\n' });
    const refused = await fota('device', 'cli-1', 'exec', '/5/0/2');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('4.05 Method Not Allowed: Update can only be executed in Downloaded');
    const bad = await fota('device', 'cli-1', 'write', '/3/0/15', 'Not/AZone');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('4.00 Bad Request');
  });

  it('bad arguments are usage errors; a device that never answers is a timeout (exit 3)', async () => {
    expect((await fota('device', 'cli-1', 'read', '3/0/3')).code).toBe(2);
    const t = await fota('device', 'nobody', 'read', '/3/0/3', '--timeout', '1');
    expect(t.code).toBe(3);
    expect(t.stderr).toContain('no answer from nobody within 1 s');
  });

  it('list shows the device online with its agent version', async () => {
    const l = await fota('device', 'list', '--json');
    expect(JSON.parse(l.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'cli-1', online: true, agent: 'fota-agent 9.9.9' })]));
  });

  it('observe streams changes until interrupted', async () => {
    const child = spawn(process.execPath, [FOTA, 'device', 'cli-1', 'observe', '/3/0/15', '--json', '--broker', broker.url]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => out.includes('"value"'), 'first value', 10_000);
    await fota('device', 'cli-1', 'write', '/3/0/15', 'Asia/Tokyo');
    await until(() => out.includes('Asia/Tokyo'), 'notification', 10_000);
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { value: string });
    expect(lines.map((l) => l.value)).toEqual(['Europe/Paris', 'Asia/Tokyo']);
  });
});

describe('fota device: named resources, --json, and a broker that goes away', () => {
  it('observe prints named resources, the whole value first and then only what changed', async () => {
    const child = spawn(process.execPath, [FOTA, 'device', 'cli-1', 'observe', '/3/0', '--broker', broker.url]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => out.includes('Firmware Version: 1.0.0'), 'the first value, named', 10_000);
    expect(out).toMatch(/^\S+Z cli-1 \/3\/0\n {2}Manufacturer: /);
    const first = out;
    await fota('device', 'cli-1', 'write', '/3/0/15', 'America/Lima');
    await until(() => out.includes('Timezone: America/Lima'), 'the change', 10_000);
    const change = out.slice(first.length);
    // the zone moved the UTC offset too; nothing else is printed again
    expect(change).toMatch(/^\S+Z cli-1 \/3\/0\n {2}Utc Offset: -05:00\n {2}Timezone: America\/Lima\n$/);
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('read, write and exec print one JSON object with --json', async () => {
    const r = await fota('device', 'cli-1', 'read', '/5/0/3', '--json');
    expect(JSON.parse(r.stdout)).toEqual({ device: 'cli-1', path: '/5/0/3', code: '2.05', value: 0 });
    const w = await fota('device', 'cli-1', 'write', '/3/0/15', 'Europe/Oslo', '--json');
    expect(JSON.parse(w.stdout)).toEqual({ device: 'cli-1', path: '/3/0/15', code: '2.04' });
    expect(w.stderr).toBe('');
  });

  it('observe says so and exits 1 when the broker goes away (it used to exit 0 silently)', async () => {
    const child = spawn(process.execPath, [FOTA, 'device', 'cli-1', 'observe', '/5/0', '--json', '--broker', broker.url]);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await until(() => out.includes('"value"'), 'first value', 10_000);
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    await broker.pause();
    try {
      expect(await exited).toBe(1);
      expect(err).toMatch(/the connection to the broker at mqtt:\/\/127\.0\.0\.1:\d+ was lost; the observation of cli-1 \/5\/0 ended/);
    } finally {
      await broker.resume();
    }
  });
});
