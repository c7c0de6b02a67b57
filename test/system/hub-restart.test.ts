// The hub process killed (SIGKILL) in the middle of a fleet update and started again on the same database: it picks
// the job up from the devices' state and finishes it correctly, without starting a second update on any device.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobClient } from '../../hub/job-client.js';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { freePort, startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { FOTA, makePackage, requireBuild, startDevice, waitFor, workspace, type SimDevice, type Workspace } from '../helpers/sim-device.js';

let broker: Broker;
let ws: Workspace;
let server: FaultServer;
const devices: SimDevice[] = [];
const hubs: ChildProcess[] = [];

async function startHubProcess(db: string): Promise<{ client: JobClient; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(process.execPath, [FOTA, 'hub', '--broker', broker.url, '--db', db, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  hubs.push(proc);
  const client = new JobClient({ url: `http://127.0.0.1:${port}` });
  await waitFor('the hub API', 15_000, () => client.health().then(() => true, () => undefined));
  return { client, proc };
}

beforeAll(async () => {
  requireBuild();
  broker = await startMosquitto();
  ws = await workspace();
  const pkg = await makePackage(ws, '7.0.0', { size: '16M' });
  server = await startFaultServer({ body: { file: pkg } });
  server.setFaults([{ on: 'every', throttle: 3 * 1024 * 1024 }]); // ~5 s per download: time to kill the hub mid-way
  for (const id of ['rs-1', 'rs-2']) devices.push(startDevice(ws, id, broker.url));
}, 60_000);

afterAll(async () => {
  for (const h of hubs) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
  await Promise.all(devices.map((d) => d.stop()));
  await server?.close();
  await broker?.stop();
  await ws?.cleanup();
});

describe('hub restarted mid-job', () => {
  it('finishes the job from the devices\' state after a SIGKILL', async () => {
    const db = join(ws.dir, 'hub.db');
    const first = await startHubProcess(db);
    await waitFor('devices registered', 30_000, async () => ((await first.client.devices()).filter((d) => d.online).length === 2 ? true : undefined));
    await first.client.scheduleFirmwareUpdate('restart-1', ['rs-1', 'rs-2'], server.url('/fw.fota'), 120);
    await waitFor('downloads under way', 30_000, async () => {
      const d = await first.client.getJob('restart-1');
      return d.children.every((c) => c.StatusMessage.startsWith('downloading')) ? true : undefined;
    });
    first.proc.kill('SIGKILL');
    await new Promise((r) => first.proc.once('exit', r));

    const second = await startHubProcess(db);
    const done = await waitFor('the job to end', 90_000, async () => {
      const d = await second.client.getJob('restart-1');
      return d.job.Status === 'Running' ? undefined : d;
    });
    expect(done.job).toMatchObject({ Status: 'Completed', StatusMessage: '2 devices: 2 succeeded, 0 failed' });
    for (const c of done.children) {
      expect(c).toMatchObject({ Status: 'Completed', UpdateResult: 1, FirmwareVersionBefore: '1.0.0', FirmwareVersionAfter: '7.0.0' });
      // one Package URI write per device, across both hub runs
      expect(c.Log.filter((l) => l.step === 'writing package uri')).toHaveLength(1);
    }
    second.proc.kill('SIGTERM');
  });
});
