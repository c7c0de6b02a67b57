// The hub process in a broken world: another process holding the job database's write lock mid-job, a second hub
// started on the same database, the hub killed while the database is locked, a device whose clock is behind the
// hub's. Real `fota hub` processes, a real Mosquitto, real agents on the simulator platform.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockDatabase } from '../helpers/db-locker.js';
import { skewedClockEnv } from '../helpers/faketime.js';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { FOTA, makePackage, requireBuild, startDevice, waitFor, workspace, type SimDevice, type Workspace } from '../helpers/sim-device.js';

let broker: Broker;
let ws: Workspace;
let server: FaultServer;
/** a second package (6.0.0), so that each test's update changes the version */
let server6: FaultServer;
const devices: SimDevice[] = [];
const hubs: HubProcess[] = [];
const IDS = ['hf-1', 'hf-2'];

async function hub(db: string): Promise<HubProcess> {
  const h = await startHubProcess(db, ['--broker', broker.url]);
  hubs.push(h);
  let seen: unknown;
  await waitFor('devices online', 30_000, async () => {
    const list = await h.client.devices();
    seen = list;
    return list.filter((d) => d.online && IDS.includes(d.deviceId)).length === IDS.length ? true : undefined;
  }).catch((e: Error) => {
    throw new Error(`${e.message}; the hub lists ${JSON.stringify(seen)}; devices say:\n${devices.map((d) => `${d.id}: ${d.output().slice(-1500)}`).join('\n')}`);
  });
  return h;
}

async function ended(h: HubProcess, jobId: string, ms = 90_000) {
  return waitFor(`job ${jobId} to end`, ms, async () => {
    const d = await h.client.getJob(jobId).catch(() => undefined);
    return d && d.job.Status !== 'Running' && d.job.Status !== 'Queued' ? d : undefined;
  });
}

beforeAll(async () => {
  requireBuild();
  broker = await startMosquitto();
  ws = await workspace();
  const pkg = await makePackage(ws, '5.0.0', { size: '8M' });
  server = await startFaultServer({ body: { file: pkg } });
  server.setFaults([{ on: 'every', throttle: 2 * 1024 * 1024 }]); // ~4 s per download: the lock lands mid-job
  server6 = await startFaultServer({ body: { file: await makePackage(ws, '6.0.0', { size: '8M' }) } });
  server6.setFaults([{ on: 'every', throttle: 2 * 1024 * 1024 }]);
  for (const id of IDS) devices.push(startDevice(ws, id, broker.url));
}, 60_000);

afterAll(async () => {
  await Promise.all(hubs.map((h) => h.kill()));
  await Promise.all(devices.map((d) => d.stop()));
  await server?.close();
  await server6?.close();
  await broker?.stop();
  await ws?.cleanup();
});

describe('hub and a locked database', () => {
  it('waits out a write lock held by another process for 8 s mid-job, answers 503 meanwhile, and finishes the job', async () => {
    const db = join(ws.dir, 'locked.db');
    const h = await hub(db);
    await h.client.scheduleFirmwareUpdate('lock-1', IDS, server.url('/fw.fota'), 120);
    await waitFor('downloads under way', 30_000, async () => ((await h.client.getJob('lock-1')).children.every((c) => c.StatusMessage.startsWith('downloading')) ? true : undefined));
    const lock = await lockDatabase(db);
    await new Promise((r) => setTimeout(r, 3000));
    // reads go on (WAL); a new job cannot be written now, and the API says so instead of failing for good
    expect((await h.client.getJob('lock-1')).job.Status).toBe('Running');
    await expect(h.client.scheduleReboot('lock-2', ['hf-1'])).rejects.toMatchObject({ status: 503, code: 'busy' });
    expect(await h.client.health().catch((e: { status: number }) => e.status)).toBe(503);
    await new Promise((r) => setTimeout(r, 5000));
    expect(h.proc.exitCode).toBeNull();
    await lock.release();
    const done = await ended(h, 'lock-1');
    expect(done.job).toMatchObject({ Status: 'Completed', StatusMessage: '2 devices: 2 succeeded, 0 failed' });
    for (const c of done.children) expect(c).toMatchObject({ Status: 'Completed', UpdateResult: 1, FirmwareVersionAfter: '5.0.0' });
    expect((await h.client.health()).ok).toBe(true);
    expect(h.output()).toContain('job database locked');
    await h.stop();
  });

  it('refuses a second hub on the same database, naming the first one by pid, and the first keeps its broker connection', async () => {
    const db = join(ws.dir, 'two.db');
    const first = await hub(db);
    const second = spawn(process.execPath, [FOTA, 'hub', '--db', db, '--listen', '127.0.0.1:0', '--broker', broker.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    second.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => second.once('exit', resolve));
    expect(code).toBe(1);
    expect(err).toContain(`the job database ${db} is in use by another hub (pid ${first.proc.pid}`);
    await new Promise((r) => setTimeout(r, 1500));
    expect(first.output()).not.toContain('lost the connection to the broker');
    expect((await first.client.health()).ok).toBe(true);
    await first.stop();
  });

  it('a hub killed mid-job while another process holds the lock starts again, waits, and finishes the job once', async () => {
    const db = join(ws.dir, 'killed.db');
    const first = await hub(db);
    await first.client.scheduleFirmwareUpdate('lock-kill', IDS, server6.url('/fw.fota'), 120);
    await waitFor('downloads under way', 30_000, async () => ((await first.client.getJob('lock-kill')).children.every((c) => c.StatusMessage.startsWith('downloading')) ? true : undefined));
    const lock = await lockDatabase(db);
    await new Promise((r) => setTimeout(r, 1000));
    await first.kill();
    const second = await startHubProcess(db, ['--broker', broker.url]);
    hubs.push(second);
    await new Promise((r) => setTimeout(r, 3000));
    expect(second.proc.exitCode).toBeNull();
    await lock.release();
    const done = await ended(second, 'lock-kill');
    expect(done.job).toMatchObject({ Status: 'Completed', StatusMessage: '2 devices: 2 succeeded, 0 failed' });
    for (const c of done.children) {
      expect(c).toMatchObject({ Status: 'Completed', UpdateResult: 1, FirmwareVersionBefore: '5.0.0', FirmwareVersionAfter: '6.0.0' });
      expect(c.Log.filter((l) => l.step === 'writing package uri')).toHaveLength(1);
    }
    await second.stop();
  });
});

describe('hub and a device clock 10 s behind', () => {
  it('writes the Package URI once when the download fails fast (404), and reports the device\'s result', async () => {
    const skewed = startDevice(ws, 'hf-skew', broker.url, { env: skewedClockEnv('-10s') });
    devices.push(skewed);
    const missing = await startFaultServer({ body: Buffer.from('gone') });
    missing.setFaults([{ on: 'every', status: 404 }]);
    try {
      const h = await startHubProcess(join(ws.dir, 'skew.db'), ['--broker', broker.url]);
      hubs.push(h);
      await waitFor('the skewed device online', 30_000, async () => ((await h.client.devices()).some((d) => d.deviceId === 'hf-skew' && d.online) ? true : undefined));
      await h.client.scheduleFirmwareUpdate('skew-1', ['hf-skew'], missing.url('/fw.fota'), 60);
      const done = await ended(h, 'skew-1', 30_000);
      const c = done.children[0]!;
      expect(c).toMatchObject({ Status: 'Failed', TimedOut: false });
      expect(c.UpdateResult).not.toBeNull();
      expect(c.StatusMessage).toContain('404');
      expect(c.Log.filter((l) => l.step === 'writing package uri')).toHaveLength(1);
      expect(missing.requests.length).toBeLessThanOrEqual(4); // the agent's own retries of one attempt, no more
      await h.stop();
    } finally {
      await missing.close();
    }
  });
});
