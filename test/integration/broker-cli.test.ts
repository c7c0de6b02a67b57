// `fota broker …` and `fota hub --mqtt-listen` as an operator runs them (the built CLI as processes): device logins
// in a Mosquitto password file, two writers at once, and an embedded broker that never listens off loopback
// without credentials (it let anonymous remote clients in, and its help suggested 0.0.0.0).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePasswordFile, verifyPassword } from '../../hub/broker/password-file.js';
import { startHubProcess } from '../helpers/hub-process.js';
import { freePort } from '../helpers/mosquitto.js';
import { FOTA, requireBuild } from '../helpers/sim-device.js';

const run = promisify(execFile);
let dir: string;

async function fota(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [FOTA, ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

function connects(url: string, opts: mqtt.IClientOptions): Promise<string> {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 3000, ...opts });
    c.once('connect', () => (c.end(true), resolve('connected')));
    c.once('error', (e) => (c.end(true), resolve(e.message)));
  });
}

beforeAll(async () => {
  requireBuild();
  dir = await mkdtemp(join(tmpdir(), 'fota-broker-cli-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('fota broker', () => {
  it('adds a device with a random password that verifies, prints it once, and keeps the file private', async () => {
    const file = join(dir, 'devices.passwd');
    const r = await fota('broker', 'add-device', 'board-17', '--passwd', file);
    expect(r.code).toBe(0);
    const password = r.stdout.trim();
    expect(password).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(r.stderr).toContain(`added device board-17 in ${file}`);
    expect(verifyPassword(parsePasswordFile(await readFile(file, 'utf8')), 'board-17', password)).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o640);
    const again = await fota('broker', 'add-device', 'board-17', '--passwd', file, '--secret-out', join(dir, 'b17.secret'));
    expect(again).toMatchObject({ code: 0, stdout: '' });
    const secret = (await readFile(join(dir, 'b17.secret'), 'utf8')).trim();
    expect((await stat(join(dir, 'b17.secret'))).mode & 0o777).toBe(0o600);
    const users = parsePasswordFile(await readFile(file, 'utf8'));
    expect([users.size, verifyPassword(users, 'board-17', secret), verifyPassword(users, 'board-17', password)]).toEqual([1, true, false]);
  });

  it('refuses a device id that is not one, and the hub\'s name', async () => {
    const file = join(dir, 'refused.passwd');
    expect(await fota('broker', 'add-device', 'a/b', '--passwd', file)).toMatchObject({ code: 2, stderr: expect.stringContaining('is not a device id') });
    expect(await fota('broker', 'add-device', 'fota-hub', '--passwd', file)).toMatchObject({ code: 2, stderr: expect.stringContaining("the hub's user name") });
    expect(await fota('broker', 'remove', 'ghost', '--passwd', file)).toMatchObject({ code: 1, stderr: expect.stringContaining('ghost is not in the password file') });
  });

  it('loses no device when many are added at once', async () => {
    const file = join(dir, 'many.passwd');
    const ids = Array.from({ length: 8 }, (_, i) => `dev-${i}`);
    const results = await Promise.all(ids.map((id) => fota('broker', 'add-device', id, '--passwd', file)));
    expect(results.map((r) => r.code)).toEqual(ids.map(() => 0));
    const users = parsePasswordFile(await readFile(file, 'utf8'));
    expect([...users.keys()].sort()).toEqual(ids);
    ids.forEach((id, i) => expect(verifyPassword(users, id, results[i]!.stdout.trim())).toBe(true));
  });
});

describe('fota hub --mqtt-listen off loopback', () => {
  it('refuses to start without a password file, and says what to do', async () => {
    const port = await freePort();
    const r = await fota('hub', '--db', join(dir, 'refused.db'), '--mqtt-listen', `0.0.0.0:${port}`, '--listen', '127.0.0.1:0');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--mqtt-listen 0.0.0.0 is reachable from other hosts: give --mqtt-passwd FILE');
    expect(r.stderr).toContain('fota broker add-device');
    expect((await fota('hub', '--help')).stdout).not.toContain('0.0.0.0:1883 for devices on other hosts');
  });

  it('with --mqtt-passwd: anonymous and wrong clients are refused, a device with its password gets in', async () => {
    const file = join(dir, 'hub-embedded.passwd');
    const pw = (await fota('broker', 'add-device', 'lab-1', '--passwd', file)).stdout.trim();
    const port = await freePort();
    const hub = await startHubProcess(join(dir, 'embedded.db'), ['--mqtt-listen', `0.0.0.0:${port}`, '--mqtt-passwd', file]);
    try {
      const url = `mqtt://127.0.0.1:${port}`;
      expect(await connects(url, { clientId: 'anon' })).toMatch(/Not authorized/i);
      expect(await connects(url, { clientId: 'x', username: 'lab-1', password: 'guess' })).toMatch(/Bad username or password/i);
      expect(await connects(url, { clientId: 'x', username: 'lab-1', password: pw })).toBe('connected');
      expect((await hub.client.health()).broker.connected).toBe(true); // the hub's own link got in with its secret
      expect(hub.output()).toContain('"authentication":"password file and ACL"');
    } finally {
      await hub.stop();
    }
  });
});
