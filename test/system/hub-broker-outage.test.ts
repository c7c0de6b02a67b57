// The hub process against broker outages of several lengths in the middle of a 3-device firmware job: it says it
// is cut off (log, /v1/health 503, devices' `online` unknown), reconnects with backoff, and its drivers go on
// where they were. Real `fota hub`, a real Mosquitto stopped and started again on its port, real agents.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { makePackage, requireBuild, startDevice, waitFor, workspace, type SimDevice, type Workspace } from '../helpers/sim-device.js';

let broker: Broker;
let ws: Workspace;
let hub: HubProcess;
const servers: FaultServer[] = [];
const devices: SimDevice[] = [];
const IDS = ['out-1', 'out-2', 'out-3'];

beforeAll(async () => {
  requireBuild();
  broker = await startMosquitto();
  ws = await workspace();
  // agents retry the broker every ≤2 s here: the test is about the hub, not about the agents' backoff
  for (const id of IDS) devices.push(startDevice(ws, id, broker.url, { agentSet: ['broker.reconnectMaxDelaySec=2'] }));
  hub = await startHubProcess(join(ws.dir, 'hub.db'), ['--broker', broker.url]);
  await waitFor('devices online', 30_000, async () => ((await hub.client.devices()).filter((d) => d.online).length === IDS.length ? true : undefined));
}, 60_000);

afterAll(async () => {
  await hub?.kill();
  await Promise.all(devices.map((d) => d.stop()));
  await Promise.all(servers.map((s) => s.close()));
  await broker?.stop();
  await ws?.cleanup();
});

describe('hub and broker outages', () => {
  it.each([
    { seconds: 1, version: '7.1.0' },
    { seconds: 3, version: '7.2.0' },
    { seconds: 12, version: '7.3.0' },
  ])('a $seconds s outage mid-job: the hub says so, reconnects, and the job completes', async ({ seconds, version }) => {
    const server = await startFaultServer({ body: { file: await makePackage(ws, version, { size: '8M' }) } });
    servers.push(server);
    server.setFaults([{ on: 'every', throttle: 2 * 1024 * 1024 }]);
    const jobId = `outage-${seconds}`;
    await hub.client.scheduleFirmwareUpdate(jobId, IDS, server.url('/fw.fota'), 150);
    await waitFor('downloads under way', 30_000, async () => ((await hub.client.getJob(jobId)).children.every((c) => c.StatusMessage.startsWith('downloading')) ? true : undefined));

    await broker.pause();
    const down = await waitFor('the hub to notice', 10_000, () => hub.client.health().then(() => undefined, (e: { status: number }) => (e.status === 503 ? e : undefined)));
    expect(down.status).toBe(503);
    expect(await hub.client.devices()).toEqual(expect.arrayContaining(IDS.map((deviceId) => expect.objectContaining({ deviceId, online: null }))));
    await new Promise((r) => setTimeout(r, seconds * 1000));
    await broker.resume();

    await waitFor('the hub to reconnect', 20_000, () => hub.client.health().then((h) => (h.ok ? h : undefined), () => undefined));
    const done = await waitFor(`job ${jobId} to end`, 120_000, async () => {
      const d = await hub.client.getJob(jobId);
      return d.job.Status === 'Running' ? undefined : d;
    });
    expect(done.job).toMatchObject({ Status: 'Completed', StatusMessage: '3 devices: 3 succeeded, 0 failed' });
    for (const c of done.children) {
      expect(c).toMatchObject({ Status: 'Completed', UpdateResult: 1, FirmwareVersionAfter: version });
      expect(c.Log.filter((l) => l.step === 'writing package uri')).toHaveLength(1);
    }
    expect((await hub.client.devices()).filter((d) => IDS.includes(d.deviceId) && d.online === true)).toHaveLength(3);
    expect(hub.output()).toContain('lost the connection to the broker');
    expect(hub.output()).toContain('connected to the broker again');
  });

  it('stopped cleanly afterwards, with no unhandled rejection in its log', async () => {
    await hub.stop();
  });
});
