// The hub's job service against a real Mosquitto broker and real agents on the simulator platform: every job type,
// mixed success and failure, timeouts, cancel, the abort threshold, and a device offline for the whole job.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub, type RunningHub } from '../../hub/hub-server.js';
import { HubLink } from '../../hub/hub-link.js';
import type { JobRecord } from '../../hub/jobs/job-model.js';
import { startPackageServer, type PackageServer } from '../../hub/package-server.js';
import { freePort, startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { parseJobQuery } from '../../hub/jobs/job-query.js';
import { startFaultServer } from '../helpers/fault-server.js';
import { makePackage, readFw, requireBuild, startDevice, waitFor, workspace, type SimDevice, type Workspace } from '../helpers/sim-device.js';

let broker: Broker;
let ws: Workspace;
let hub: RunningHub;
let link: HubLink;
let pkgs: PackageServer;
/** devices that get the broken build from the package server (chosen per test through the User-Agent) */
const brokenFor = new Set<string>();
const devices: SimDevice[] = [];
const IDS = ['job-a', 'job-b', 'job-c', 'job-d'];

async function finished(jobId: string, ms = 120_000): Promise<{ job: JobRecord; children: JobRecord[] }> {
  return waitFor(`job ${jobId} to end`, ms, async () => {
    const d = hub.service.get(jobId);
    return d && ['Completed', 'Failed', 'Cancelled'].includes(d.job.Status) ? d : undefined;
  });
}

function child(d: { children: JobRecord[] }, device: string): JobRecord {
  const c = d.children.find((x) => x.DeviceId === device);
  if (!c) throw new Error(`no child for ${device}`);
  return c;
}

beforeAll(async () => {
  requireBuild();
  broker = await startMosquitto();
  ws = await workspace();
  await makePackage(ws, '3.0.0');
  await makePackage(ws, '2.0.0');
  await makePackage(ws, '3.0.0', { broken: true });
  await makePackage(ws, '9.0.0', { size: '24M' }); // the slow one, for timeouts and cancel
  pkgs = await startPackageServer({
    dir: ws.dir,
    host: '127.0.0.1',
    port: 0,
    choose: (path, req) => {
      const dev = /\(([^)]+)\)/.exec(req.headers['user-agent'] ?? '')?.[1] ?? '';
      return path === '/fw-3.0.0.fota' && brokenFor.has(dev) ? '/fw-3.0.0-broken.fota' : path;
    },
  });
  hub = await startHub({ link: { url: broker.url, prefix: 'lwm2m' }, prefix: 'lwm2m', db: join(ws.dir, 'hub.db'), listen: { host: '127.0.0.1', port: 0 }, requestTimeoutMs: 2000 });
  link = await HubLink.connect({ url: broker.url, prefix: 'lwm2m' });
  for (const id of IDS) devices.push(startDevice(ws, id, broker.url));
  for (const id of IDS) await waitFor(`${id} online`, 30_000, () => readFw(link, id));
}, 120_000);

afterAll(async () => {
  await Promise.all(devices.map((d) => d.stop()));
  await link?.close();
  await hub?.close();
  await pkgs?.close();
  await broker?.stop();
  await ws?.cleanup();
});

describe('device jobs against real agents', () => {
  it('firmware update with mixed results: the parent fails and names the failed device', async () => {
    brokenFor.clear();
    brokenFor.add('job-b');
    hub.service.schedule({ jobId: 'fw-mixed', type: 'firmware-update', deviceIds: ['job-a', 'job-b'], parameters: { timeoutSeconds: 120, packageUri: pkgs.urlOf('fw-3.0.0.fota') } });
    const d = await finished('fw-mixed');
    expect(d.job.Status).toBe('Failed');
    expect(d.job.StatusMessage).toBe('2 devices: 1 succeeded, 1 failed (failed: job-b)');
    expect(child(d, 'job-a')).toMatchObject({ Status: 'Completed', UpdateResult: 1, FirmwareVersionBefore: '1.0.0', FirmwareVersionAfter: '3.0.0', Progress: 100 });
    expect(child(d, 'job-b')).toMatchObject({ Status: 'Failed', UpdateResult: 8, ErrorCode: 'boot-failed', FirmwareVersionBefore: '1.0.0' });
    expect(child(d, 'job-b').StatusMessage).toContain('boot counter exhausted');
    expect(child(d, 'job-a').Log.map((l) => l.step)).toEqual(expect.arrayContaining(['attempt', 'downloaded', 'update executed']));
  });

  it('reads and writes device properties', async () => {
    hub.service.schedule({ jobId: 'props-w', type: 'write-device-properties', deviceIds: ['job-a', 'job-c'], parameters: { timeoutSeconds: 60, values: { '/3/0/15': 'Europe/Berlin' } } });
    expect((await finished('props-w')).job.Status).toBe('Completed');
    hub.service.schedule({ jobId: 'props-r', type: 'read-device-properties', deviceIds: ['job-a', 'job-c'], parameters: { timeoutSeconds: 60, paths: ['/3/0/3', '/3/0/15', '/3/0/17'] } });
    const d = await finished('props-r');
    expect(d.job.Status).toBe('Completed');
    expect(child(d, 'job-a').Values).toEqual({ '/3/0/3': '3.0.0', '/3/0/15': 'Europe/Berlin', '/3/0/17': 'fota-sim' });
    expect(child(d, 'job-c').Values).toMatchObject({ '/3/0/3': '1.0.0' });
    hub.service.schedule({ jobId: 'props-bad', type: 'read-device-properties', deviceIds: ['job-c'], parameters: { timeoutSeconds: 60, paths: ['/3/0/3', '/9/0/1'] } });
    const bad = await finished('props-bad');
    expect(bad.job.Status).toBe('Failed');
    expect(child(bad, 'job-c').StatusMessage).toContain('/9/0/1: 4.04');
    expect(child(bad, 'job-c').Values).toEqual({ '/3/0/3': '1.0.0' });
  });

  it('configuration update: applied atomically, validated by the agent, refused keys never reach a device', async () => {
    hub.service.schedule({ jobId: 'cfg-ok', type: 'configuration-update', deviceIds: ['job-c'], parameters: { timeoutSeconds: 60, config: { 'download.retries': 3, logLevel: 'warn' } } });
    const ok = await finished('cfg-ok');
    expect(ok.job.Status).toBe('Completed');
    expect(child(ok, 'job-c').StatusMessage).toMatch(/configuration applied \(revision 1\)/);
    const read = await link.request('job-c', { op: 'read', path: '/26241/0' }, 3000);
    expect(read.value).toMatchObject({ '5': 3, '14': 'warn', '100': 1 });
    expect(read.value).not.toHaveProperty('3'); // the password is never readable

    hub.service.schedule({ jobId: 'cfg-bad', type: 'configuration-update', deviceIds: ['job-c'], parameters: { timeoutSeconds: 60, config: { 'download.retries': -1, logLevel: 'info' } } });
    const bad = await finished('cfg-bad');
    expect(bad.job.Status).toBe('Failed');
    expect(child(bad, 'job-c').StatusMessage).toContain('download.retries: must be an integer');
    expect((await link.request('job-c', { op: 'read', path: '/26241/0' }, 3000)).value).toMatchObject({ '5': 3, '14': 'warn' });

    expect(() => hub.service.schedule({ jobId: 'cfg-key', type: 'configuration-update', deviceIds: ['job-c'], parameters: { timeoutSeconds: 60, config: { deviceId: 'x' } } })).toThrow(/not remotely configurable/);
  });

  it('reboot: completes when the device registers again', async () => {
    hub.service.schedule({ jobId: 'reboot-1', type: 'reboot', deviceIds: ['job-c', 'job-d'], parameters: { timeoutSeconds: 60 } });
    const d = await finished('reboot-1');
    expect(d.job.Status).toBe('Completed');
    expect(child(d, 'job-d').StatusMessage).toMatch(/rebooted; registered again after/);
  });

  it('factory reset: back to the factory image and the shipped configuration', async () => {
    hub.service.schedule({ jobId: 'reset-1', type: 'factory-reset', deviceIds: ['job-a', 'job-c'], parameters: { timeoutSeconds: 120 } });
    const d = await finished('reset-1');
    expect(d.job.Status).toBe('Completed');
    expect(child(d, 'job-a')).toMatchObject({ FirmwareVersionBefore: '3.0.0', FirmwareVersionAfter: '1.0.0' });
    // the agent starts afresh after a factory reset (its configuration is the shipped one again): it may still be
    // restarting when the job ends, so read until it answers
    const read = (ep: string, path: string) =>
      waitFor(`${ep} ${path}`, 30_000, async () => {
        const r = await link.request(ep, { op: 'read', path }, 3000).catch(() => undefined);
        return r?.code === '2.05' ? { value: r.value } : undefined;
      });
    expect((await read('job-c', '/26241/0')).value).toMatchObject({ '5': 8, '14': 'info', '100': 0 });
    expect((await read('job-a', '/3/0/15')).value).not.toBe('Europe/Berlin');
  });

  it('timeout: a device that does not finish in time fails as timed out and is told to cancel', async () => {
    // 24 MiB at 2 MiB/s: the job's 3 s timeout catches the device mid-download
    const throttled = await startThrottled(ws.dir, 'fw-9.0.0.fota', 2 * 1024 * 1024);
    hub.service.schedule({ jobId: 'fw-timeout', type: 'firmware-update', deviceIds: ['job-d'], parameters: { timeoutSeconds: 3, packageUri: throttled.url } });
    const d = await finished('fw-timeout');
    await throttled.close();
    expect(child(d, 'job-d')).toMatchObject({ Status: 'Failed', TimedOut: true });
    // what the device last said comes with the timeout, then what the hub did about it
    expect(child(d, 'job-d').StatusMessage).toMatch(/^timed out: the device did not finish within 3 s; last: downloading \d+%; the download was cancelled on the device$/);
    const fw = await waitFor('job-d idle', 10_000, async () => ((await readFw(link, 'job-d'))?.state === 0 ? readFw(link, 'job-d') : undefined));
    expect(fw?.result).toBe(10);
  });

  it('cancel: running children are cancelled on the device, queued ones never start', async () => {
    const throttled = await startThrottled(ws.dir, 'fw-9.0.0.fota', 2 * 1024 * 1024);
    hub.service.schedule({ jobId: 'fw-cancel', type: 'firmware-update', deviceIds: ['job-b', 'job-d'], parameters: { timeoutSeconds: 120, maxInFlight: 1, packageUri: throttled.url } });
    await waitFor('a download in progress', 20_000, async () => (child(hub.service.get('fw-cancel')!, 'job-b').StatusMessage.startsWith('downloading') ? true : undefined));
    hub.service.cancel('fw-cancel');
    const d = await finished('fw-cancel');
    await throttled.close();
    expect(d.job.Status).toBe('Cancelled');
    expect(child(d, 'job-b')).toMatchObject({ Status: 'Cancelled' });
    expect(child(d, 'job-b').StatusMessage).toContain('the download was cancelled on the device');
    expect(child(d, 'job-d')).toMatchObject({ Status: 'Cancelled', StartTime: null, StatusMessage: 'cancelled before it started' });
    expect((await readFw(link, 'job-b'))?.result).toBe(10);
  });

  it('abort threshold: after the failure ratio is passed the rest of the rollout is cancelled', async () => {
    brokenFor.clear();
    brokenFor.add('job-c');
    hub.service.schedule({ jobId: 'fw-abort', type: 'firmware-update', deviceIds: ['job-c', 'job-b', 'job-d'], parameters: { timeoutSeconds: 120, maxInFlight: 1, abortFailureRatio: 0.3, packageUri: pkgs.urlOf('fw-3.0.0.fota') } });
    const d = await finished('fw-abort');
    expect(d.job.Status).toBe('Failed');
    expect(child(d, 'job-c')).toMatchObject({ Status: 'Failed', UpdateResult: 8 });
    for (const id of ['job-b', 'job-d']) {
      expect(child(d, id).Status).toBe('Cancelled');
      expect(child(d, id).StatusMessage).toMatch(/rollout was aborted \(1 of 1 finished devices failed, more than 0.3\)/);
    }
    expect(d.job.StatusMessage).toBe('3 devices: 0 succeeded, 1 failed, 2 cancelled (failed: job-c)');
  });

  it('a device the hub has never seen fails at once as unknown (it waited out the whole timeout); waitForDevices waits', async () => {
    const t0 = Date.now();
    hub.service.schedule({ jobId: 'ghost', type: 'reboot', deviceIds: ['ghost-1'], parameters: { timeoutSeconds: 120 } });
    const d = await finished('ghost', 30_000);
    expect(child(d, 'ghost-1').Status).toBe('Failed');
    expect(child(d, 'ghost-1').StatusMessage).toMatch(/^unknown device: the hub has never seen ghost-1 register \(check the id: fota device list; or schedule with --wait-for-devices/);
    expect(Date.now() - t0).toBeLessThan(20_000);
    hub.service.schedule({ jobId: 'ghost-wait', type: 'reboot', deviceIds: ['ghost-2'], parameters: { timeoutSeconds: 3, waitForDevices: true } });
    const w = await finished('ghost-wait');
    expect(child(w, 'ghost-2')).toMatchObject({ Status: 'Failed', TimedOut: true });
    expect(child(w, 'ghost-2').StatusMessage).toBe('timed out: the device did not finish within 3 s; the device never answered (offline or unknown)');
  });

  it('job history queries: every child by start time, failed ones only, errors are clear', async () => {
    const failed = hub.service.query(parse({ filter: { type: 'and', filters: [cmp('Type', 'firmware-update'), cmp('Status', 'Failed'), { type: 'not', filter: cmp('ParentJobId', '') }] } }));
    expect(failed.jobs.map((j) => j.DeviceId).sort()).toEqual(['job-b', 'job-c', 'job-d']);
    expect(() => parse({ filter: { type: 'comparison', property: { name: 'Nope', type: 'default' }, value: 1, comparisonOperator: 'eq' } })).toThrow(/Nope/);
  });

  it("a package server that refuses connections: the child carries the agent's retry reason, also once it timed out", async () => {
    const port = await freePort(); // nothing listens there
    // retries enough to outlast the job: the reason must come from the retries, not from a final failure
    const dev = startDevice(ws, 'job-e', broker.url, { agentSet: ['download.retries=1000'] });
    devices.push(dev);
    await waitFor('job-e online', 30_000, () => readFw(link, 'job-e'));
    hub.service.schedule({ jobId: 'refused', type: 'firmware-update', deviceIds: ['job-e'], parameters: { timeoutSeconds: 12, packageUri: `http://127.0.0.1:${port}/fw.fota` } });
    const running = await waitFor('the retry reason in the running child', 12_000, async () => {
      const m = hub.service.get('refused~job-e')?.job.StatusMessage ?? '';
      return /ECONNREFUSED/.test(m) ? m : undefined;
    });
    expect(running).toMatch(new RegExp(`^downloading 0% \\(retrying: connection to 127\\.0\\.0\\.1:${port} lost \\(ECONNREFUSED\\); attempt \\d+ in \\d+ s\\)$`));
    const d = await finished('refused');
    expect(child(d, 'job-e')).toMatchObject({ Status: 'Failed', TimedOut: true });
    expect(child(d, 'job-e').StatusMessage).toMatch(/^timed out: the device did not finish within 12 s; last: downloading 0% \(retrying: connection to .* \(ECONNREFUSED\); .*\)/);
  });

  it('a downgrade fails on the device unless the job allows it', async () => {
    // job-a: back on the factory 1.0.0 since the factory reset; first 3.0.0, then try to go back to 2.0.0
    brokenFor.clear();
    hub.service.schedule({ jobId: 'fw-up-again', type: 'firmware-update', deviceIds: ['job-a'], parameters: { timeoutSeconds: 120, packageUri: pkgs.urlOf('fw-3.0.0.fota') } });
    expect(child(await finished('fw-up-again'), 'job-a')).toMatchObject({ Status: 'Completed', FirmwareVersionAfter: '3.0.0' });
    hub.service.schedule({ jobId: 'fw-down', type: 'firmware-update', deviceIds: ['job-a'], parameters: { timeoutSeconds: 120, packageUri: pkgs.urlOf('fw-2.0.0.fota') } });
    const refused = await finished('fw-down');
    expect(child(refused, 'job-a')).toMatchObject({ Status: 'Failed', UpdateResult: 6, ErrorCode: 'downgrade-refused', FirmwareVersionBefore: '3.0.0' });
    expect(child(refused, 'job-a').StatusMessage).toContain('a job that allows a downgrade can install it');
    hub.service.schedule({ jobId: 'fw-down-ok', type: 'firmware-update', deviceIds: ['job-a'], parameters: { timeoutSeconds: 120, packageUri: pkgs.urlOf('fw-2.0.0.fota'), allowDowngrade: true } });
    expect(child(await finished('fw-down-ok'), 'job-a')).toMatchObject({ Status: 'Completed', UpdateResult: 1, FirmwareVersionBefore: '3.0.0', FirmwareVersionAfter: '2.0.0' });
  });
});

function cmp(name: string, value: string) {
  return { type: 'comparison', property: { name, type: 'default' }, value, comparisonOperator: 'eq' };
}

function parse(q: unknown) {
  return parseJobQuery(q);
}

async function startThrottled(dir: string, file: string, rate: number) {
  const srv = await startFaultServer({ body: { file: join(dir, file) } });
  srv.setFaults([{ on: 'every', throttle: rate }]);
  return { url: srv.url('/slow.fota'), close: () => srv.close() };
}
