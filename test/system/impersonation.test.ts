// Impersonation on the shipped broker configuration, end to end: a real Mosquitto running deploy/mosquitto/, a real
// agent logging in as itself over TLS, the `fota hub` process as fota-hub, and an attacker holding a device account
// of its own ("mallory", a compromised board). It was: a fake device `ghost1` completed a firmware job "1.0.0 →
// 6.6.6", and a client that took the real device's client id completed a job "2.0.0 → 7.7.7" while the device stayed.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode, type Request } from '../../protocol/messages.js';
import { topicsFor } from '../../protocol/topics.js';
import { startShippedMosquitto, type FotaBroker } from '../helpers/fota-broker.js';
import { startHubProcess, type HubProcess } from '../helpers/hub-process.js';
import { startPackageServer, type PackageServer } from '../../hub/package-server.js';
import { makePackage, requireBuild, startDevice, waitFor, workspace, type SimDevice, type Workspace } from '../helpers/sim-device.js';

let b: FotaBroker;
let ws: Workspace;
let hub: HubProcess;
let pkgs: PackageServer;
let device: SimDevice;
const attackers: MqttClient[] = [];

/** mallory, logged in with its own (valid) credentials, answering every request it sees with a success. */
async function mallory(clientId: string, pose: string): Promise<MqttClient> {
  const c = mqtt.connect(b.deviceUrl, { clientId, username: 'mallory', password: b.secrets['mallory'] as string, ca: b.ca as string, reconnectPeriod: 500, protocolVersion: 4 });
  attackers.push(c);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  const t = topicsFor('lwm2m', pose);
  const fake = { '3': 0, '5': 1, '7': '6.6.6', '26244': 'forged', '1': 'http://x/fw.fota' };
  c.publish(t.registration, encode({ op: 'register', ep: pose, lwm2m: '1.2', lt: 300, objects: ['/3/0', '/5/0'], agent: { name: 'fota-agent', version: '6.6.6' }, regId: 'forged', time: Date.now() }), { qos: 1, retain: true });
  c.publish(t.presence, encode({ online: true }), { qos: 1, retain: true });
  c.subscribe([t.request, 'lwm2m/#'], { qos: 1 });
  c.on('message', (topic, payload) => {
    if (topic !== t.request) return;
    const req = JSON.parse(payload.toString()) as Request;
    const value = req.path === '/3/0/3' ? '7.7.7' : req.path === '/5/0' ? fake : undefined;
    c.publish(t.response, encode({ id: req.id, code: req.op === 'read' || req.op === 'observe' ? '2.05' : '2.04', ...(value !== undefined ? { value } : {}) }), { qos: 1 });
    c.publish(t.notify, encode({ token: req.id, path: '/5/0', value: fake, seq: 99, time: Date.now() }), { qos: 1 });
  });
  return c;
}

beforeAll(async () => {
  requireBuild();
  b = await startShippedMosquitto(['imp-1', 'mallory']);
  ws = await workspace();
  await makePackage(ws, '2.0.0');
  pkgs = await startPackageServer({ dir: ws.dir, host: '127.0.0.1', port: 0 });
  const ca = join(ws.dir, 'broker-ca.pem');
  const secret = join(ws.dir, 'imp-1.secret');
  await writeFile(ca, b.ca as string);
  await writeFile(secret, b.secrets['imp-1'] as string, { mode: 0o600 });
  device = startDevice(ws, 'imp-1', b.deviceUrl, { agentSet: ['broker.username=imp-1', `broker.passwordFile=${secret}`, `broker.caFile=${ca}`] });
  hub = await startHubProcess(join(ws.dir, 'hub.db'), ['--broker', b.hubUrl, '--username', 'fota-hub'], { FOTA_BROKER_PASSWORD: b.secrets['fota-hub'] as string });
  await waitFor('imp-1 online', 30_000, async () => ((await hub.client.devices()).some((d) => d.deviceId === 'imp-1' && d.online) ? true : undefined));
}, 90_000);

afterAll(async () => {
  for (const c of attackers) c.end(true);
  await hub?.kill();
  await device?.stop();
  await pkgs?.close();
  await b?.stop();
  await ws?.cleanup();
});

describe('impersonation on the shipped broker configuration', () => {
  it('a forged registration never reaches the hub, and a job on the fake device cannot complete', async () => {
    await mallory('ghost-maker', 'ghost1');
    await new Promise((r) => setTimeout(r, 1000));
    expect((await hub.client.devices()).map((d) => d.deviceId)).not.toContain('ghost1');
    const ended = (jobId: string) =>
      waitFor(`${jobId} to end`, 30_000, async () => {
        const d = await hub.client.getJob(jobId);
        return d.job.Status === 'Running' || d.job.Status === 'Queued' ? undefined : d;
      });
    await hub.client.scheduleFirmwareUpdate('ghost-job', ['ghost1'], pkgs.urlOf('fw-2.0.0.fota'), 8);
    const done = await ended('ghost-job');
    expect(done.children[0]).toMatchObject({ Status: 'Failed', FirmwareVersionAfter: null });
    expect(done.children[0]!.StatusMessage).toContain('unknown device');
    // a job told to wait for the device keeps asking it, and only the broker's silence answers
    await hub.client.schedule({ jobId: 'ghost-wait', type: 'firmware-update', deviceIds: ['ghost1'], parameters: { packageUri: pkgs.urlOf('fw-2.0.0.fota'), timeoutSeconds: 8, waitForDevices: true } });
    const waited = await ended('ghost-wait');
    expect(waited.children[0]).toMatchObject({ Status: 'Failed', TimedOut: true, FirmwareVersionAfter: null });
    expect(waited.children[0]!.StatusMessage).toContain('the device never answered');
  });

  it("a client taking the real device's client id can neither drop it nor answer for it: the job records what the device did", async () => {
    await mallory('fota-agent-imp-1', 'imp-1');
    await mallory('imp-1', 'imp-1');
    await hub.client.scheduleFirmwareUpdate('real-job', ['imp-1'], pkgs.urlOf('fw-2.0.0.fota'), 120);
    const done = await waitFor('real-job to end', 120_000, async () => {
      const d = await hub.client.getJob('real-job');
      return d.job.Status === 'Running' || d.job.Status === 'Queued' ? undefined : d;
    });
    expect(done.children[0]).toMatchObject({ Status: 'Completed', UpdateResult: 1, FirmwareVersionBefore: '1.0.0', FirmwareVersionAfter: '2.0.0' });
    // and the device itself says so
    await hub.client.schedule({ jobId: 'read-back', type: 'read-device-properties', deviceIds: ['imp-1'], parameters: { paths: ['/3/0/3'], timeoutSeconds: 30 } });
    const read = await waitFor('read-back to end', 30_000, async () => {
      const d = await hub.client.getJob('read-back');
      return d.job.Status === 'Running' || d.job.Status === 'Queued' ? undefined : d;
    });
    expect(read.children[0]!.Values).toEqual({ '/3/0/3': '2.0.0' });
    expect(device.output()).not.toMatch(/disconnected from the broker/);
    await hub.stop();
  });
});
