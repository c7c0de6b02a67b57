// The dashboard benchmark's fleet: N devices answered by ONE MQTT client (the wire contract of protocol/, not the
// agent): retained registration and presence per device, answers to read/observe/cancel-observe/write of Objects 3
// and 5, and notifications to every observer of a device's Object 5 on demand. Enough for the hub's inventory to
// list 10,000 devices and for a firmware-update child to reach "downloading N%" without any download happening.
//
// INVARIANTS
// - A device's observations are kept per device; a notification goes to each observer of /5 or /5/0 with the value
//   in the shape of the observed path ({"0": {...}} for /5, the instance for /5/0), seq +1 per notification.
// - Nothing is ever downloaded: a written Package URI moves the device to Downloading at 0% (a new attempt id).

import mqtt, { type MqttClient } from 'mqtt';
import { Dev, Fw } from '../../protocol/lwm2m.js';
import type { JsonValue, Request } from '../../protocol/messages.js';
import { topicsFor } from '../../protocol/topics.js';

interface FakeDevice {
  id: string;
  regId: string;
  fw: Record<string, JsonValue>;
  /** observe token → path */
  observers: Map<string, string>;
  seq: number;
}

export interface FakeFleet {
  ids: readonly string[];
  /** requests answered so far */
  readonly answered: number;
  /** every request received, in order (the inventory's integration test reads it) */
  readonly requests: { ep: string; op: string; path: string }[];
  /** Publishes the device's registration again (retained); with a new `regId` it is a restarted agent. */
  register(id: string, regId?: string): Promise<void>;
  /** Publishes the device's presence (retained). */
  presence(id: string, online: boolean): Promise<void>;
  /** Sets Object 5 resources of `id` and notifies its observers; resolves once the broker has the message. */
  notifyFirmware(id: string, values: Record<string, JsonValue>): Promise<void>;
  close(): Promise<void>;
}

const DEVICE_TYPES = ['gateway-a', 'gateway-b', 'sensor-x', 'panel-7'];

function deviceObject(d: FakeDevice, n: number): Record<string, JsonValue> {
  return {
    [Dev.Manufacturer]: 'bench',
    [Dev.ModelNumber]: `model-${n % 7}`,
    [Dev.FirmwareVersion]: `1.${n % 5}.0`,
    [Dev.DeviceType]: DEVICE_TYPES[n % DEVICE_TYPES.length] as string,
    [Dev.ErrorCode]: n % 97 === 0 ? [16] : [0],
    [Dev.ErrorReason]: n % 97 === 0 ? ['the state folder is read-only'] : [''],
    [Dev.SoftwareVersion]: d.regId,
  };
}

export async function startFakeFleet(opts: { brokerUrl: string; prefix: string; count: number }): Promise<FakeFleet> {
  const client: MqttClient = await mqtt.connectAsync(opts.brokerUrl, { clientId: `dash-bench-fleet-${process.pid}`, clean: true, reconnectPeriod: 0 });
  const devices = new Map<string, FakeDevice>();
  const ids: string[] = [];
  let answered = 0;
  const requests: { ep: string; op: string; path: string }[] = [];
  for (let n = 0; n < opts.count; n++) {
    const id = `dev-${String(n).padStart(5, '0')}`;
    ids.push(id);
    devices.set(id, { id, regId: `r${n}-${Date.now().toString(36)}`, fw: { [Fw.State]: 0, [Fw.UpdateResult]: n % 13 === 0 ? 8 : 1, [Fw.ResultReason]: n % 13 === 0 ? 'the new firmware did not pass its health check' : '', [Fw.PackageUri]: '', [Fw.AttemptId]: `a${n}`, [Fw.Progress]: 0, [Fw.PkgVersion]: '' }, observers: new Map(), seq: 0 });
  }
  const index = new Map(ids.map((id, n) => [id, n]));
  const publish = (topic: string, body: unknown, retain = false) => client.publishAsync(topic, JSON.stringify(body), { qos: 1, retain });

  const notify = async (d: FakeDevice) => {
    for (const [token, path] of d.observers) {
      if (path !== '/5' && path !== '/5/0') continue;
      d.seq++;
      await publish(topicsFor(opts.prefix, d.id).notify, { token, path, value: path === '/5' ? { 0: d.fw } : d.fw, seq: d.seq, time: Date.now() });
    }
  };

  const valueAt = (d: FakeDevice, path: string): JsonValue | undefined => {
    const n = index.get(d.id) ?? 0;
    if (path === '/3') return { 0: deviceObject(d, n) };
    if (path === '/3/0') return deviceObject(d, n);
    if (path === '/3/0/3') return deviceObject(d, n)[Dev.FirmwareVersion];
    if (path === '/5') return { 0: d.fw };
    if (path === '/5/0') return d.fw;
    return undefined;
  };

  const answer = async (d: FakeDevice, req: Request) => {
    const res = topicsFor(opts.prefix, d.id).response;
    answered++;
    requests.push({ ep: d.id, op: req.op, path: req.path });
    if (req.op === 'read' || req.op === 'observe') {
      const value = valueAt(d, req.path);
      if (value === undefined) return publish(res, { id: req.id, code: '4.04', reason: `no ${req.path} here` });
      if (req.op === 'observe') d.observers.set(req.id, req.path);
      return publish(res, { id: req.id, code: '2.05', value });
    }
    if (req.op === 'cancel-observe') {
      for (const [t, p] of d.observers) if (p === req.path && (req.token === undefined || req.token === t)) d.observers.delete(t);
      return publish(res, { id: req.id, code: '2.05' });
    }
    if (req.op === 'write' && (req.path === '/5/0/1' || req.path === '/5/0')) {
      const uri = req.path === '/5/0/1' ? req.value : (req.value as Record<string, JsonValue>)[Fw.PackageUri];
      Object.assign(d.fw, { [Fw.PackageUri]: uri ?? '', [Fw.State]: 1, [Fw.Progress]: 0, [Fw.AttemptId]: `a-${Date.now().toString(36)}-${d.seq}`, [Fw.UpdateResult]: 0, [Fw.ResultReason]: '' });
      await publish(res, { id: req.id, code: '2.04' });
      return notify(d);
    }
    if (req.op === 'execute' && req.path === '/5/0/10') {
      Object.assign(d.fw, { [Fw.State]: 0, [Fw.UpdateResult]: 10, [Fw.ResultReason]: 'cancelled' });
      await publish(res, { id: req.id, code: '2.04' });
      return notify(d);
    }
    return publish(res, { id: req.id, code: '4.05', reason: `the bench fleet does not ${req.op} ${req.path}` });
  };

  client.on('message', (topic, payload) => {
    const ep = topic.split('/').at(-2) ?? '';
    const d = devices.get(ep);
    if (!d) return;
    let req: Request;
    try {
      req = JSON.parse(payload.toString()) as Request;
    } catch {
      return;
    }
    void answer(d, req).catch(() => undefined);
  });
  await client.subscribeAsync(`${opts.prefix}/dm/+/req`, { qos: 1 });

  const register = async (id: string, regId?: string) => {
    const d = devices.get(id) as FakeDevice;
    if (regId !== undefined) (d.regId = regId), d.observers.clear(); // a restarted agent observes nothing
    await publish(topicsFor(opts.prefix, id).registration, { op: 'register', ep: id, lwm2m: '1.2', lt: 86_400, objects: ['/3/0', '/5/0'], agent: { name: 'dash-bench', version: '0.0.0-bench' }, regId: d.regId, time: Date.now() }, true);
  };
  const presence = (id: string, online: boolean) => publish(topicsFor(opts.prefix, id).presence, { online, regId: (devices.get(id) as FakeDevice).regId, time: Date.now() }, true).then(() => undefined);
  // registrations and presence, retained, in bursts the broker takes without queueing up
  for (let i = 0; i < ids.length; i += 200) {
    await Promise.all(
      ids.slice(i, i + 200).map(async (id) => {
        await register(id);
        await presence(id, true);
      }),
    );
  }

  return {
    ids,
    get answered() {
      return answered;
    },
    requests,
    register,
    presence,
    async notifyFirmware(id, values) {
      const d = devices.get(id);
      if (!d) throw new Error(`no device ${id} in the bench fleet`);
      Object.assign(d.fw, values);
      await notify(d);
    },
    async close() {
      // retained messages stay with the broker, which the bench stops anyway
      await client.endAsync();
    },
  };
}
