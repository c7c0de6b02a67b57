// The package server goes away in the middle of a download — process stopped, connections reset, the port
// refusing — and comes back on the same address after a few seconds, or not at all. A whole simulated device (`fota
// sim run`: the real agent process) over a real Mosquitto; the server is the test's fault server stopped and started
// again on its port (the same file gets the same ETag, as a real server restarted would give).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubLink } from '../../hub/hub-link.js';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { driveUpdate, makePackage, readFw, requireBuild, startDevice, waitFor, workspace, type SimDevice, type Workspace } from '../helpers/sim-device.js';

let broker: Broker;
let ws: Workspace;
let link: HubLink;
const servers: FaultServer[] = [];
const devices: SimDevice[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function serve(file: string, port?: number): Promise<FaultServer> {
  const srv = await startFaultServer({ body: { file }, ...(port !== undefined ? { port } : {}) });
  servers.push(srv);
  // 1 MiB/s: the download is under way for seconds, so the outage lands in its middle
  srv.setFaults([{ on: 'every', throttle: 1024 * 1024 }]);
  return srv;
}

async function device(id: string, agentSet: string[]): Promise<SimDevice> {
  const d = startDevice(ws, id, broker.url, { agentSet });
  devices.push(d);
  await waitFor(`${id} to answer`, 20_000, () => readFw(link, id));
  return d;
}

/** The first byte offset of each GET the server saw (0 without a Range). */
const offsets = (s: FaultServer) => s.requests.filter((r) => r.method === 'GET').map((r) => Number(/^bytes=(\d+)-/.exec(String(r.headers.range ?? ''))?.[1] ?? 0));

beforeAll(async () => {
  requireBuild();
  broker = await startMosquitto();
  ws = await workspace();
  link = await HubLink.connect({ url: broker.url, prefix: 'lwm2m' });
});

afterAll(async () => {
  await Promise.all(devices.map((d) => d.stop()));
  await link?.close();
  await Promise.all(servers.map((s) => s.close()));
  await broker?.stop();
  await ws?.cleanup();
});

describe('package server outages mid-download', () => {
  it.each([{ seconds: 2 }, { seconds: 15 }])('down for $seconds s: the agent retries, resumes where it was (a Range request), and the update completes', async ({ seconds }) => {
    const version = `4.${seconds}.0`;
    const pkg = await makePackage(ws, version, { size: '8M' });
    const first = await serve(pkg);
    const port = Number(new URL(first.origin).port);
    const id = `outage-${seconds}`;
    // the shipped retry settings (8 retries without progress, from 1 s doubling, full jitter: about 1.5 min of
    // outage on average); a checkpoint every MiB so the resume point is recent
    await device(id, ['download.checkpointMiB=1']);
    const update = driveUpdate(link, id, first.url('/fw.fota'), 120_000);
    await waitFor('the download to start', 20_000, async () => (first.requests.length > 0 ? true : undefined));
    await sleep(2500);
    await first.close(); // connections destroyed, the port refuses from now on
    await sleep(seconds * 1000);
    const again = await serve(pkg, port);
    const fw = await update;
    expect(fw).toMatchObject({ state: 0, result: 1, version });
    // it went on from where it was, not from byte 0
    expect(offsets(again).length).toBeGreaterThan(0);
    expect(offsets(again)[0]).toBeGreaterThan(1024 * 1024);
  }, 180_000);

  it('down for longer than the retry budget: Update Result 4 with the reason, the device keeps its firmware and updates later', async () => {
    const pkg = await makePackage(ws, '4.9.0', { size: '8M' });
    const first = await serve(pkg);
    const port = Number(new URL(first.origin).port);
    const id = 'outage-long';
    await device(id, ['download.retries=3', 'download.initialDelaySec=0.2', 'download.maxDelaySec=0.5']);
    const update = driveUpdate(link, id, first.url('/fw.fota'), 60_000);
    await waitFor('the download to start', 20_000, async () => (first.requests.length > 0 ? true : undefined));
    await sleep(1500);
    await first.close();
    const fw = await update;
    console.log(`package server gone: Update Result ${fw.result}: ${fw.reason}`);
    expect(fw).toMatchObject({ state: 0, result: 4, version: '1.0.0' });
    expect(fw.reason).toMatch(/127\.0\.0\.1/);
    expect(fw.reason).toMatch(/refused|ECONNREFUSED|connect/i);
    // the server is back: the next job works
    const again = await serve(pkg, port);
    expect(await driveUpdate(link, id, again.url('/fw.fota'), 90_000)).toMatchObject({ state: 0, result: 1, version: '4.9.0' });
  }, 180_000);
});
