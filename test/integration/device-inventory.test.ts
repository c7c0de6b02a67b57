// The dashboard's device inventory (hub/fleet/device-inventory.ts) on a real Mosquitto through the real HubLink, with
// devices answered by the wire-level fake fleet of the dashboard benchmark: every device listed with Objects 3 and 5,
// only notifications carrying the inventory's own token believed, nothing asked of an offline device, a restarted
// agent observed again (the earlier run's observations cancelled first), and the bound on entries.

import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { startFakeFleet, type FakeFleet } from '../../bench/dashboard/fake-fleet.js';
import { DeviceInventory } from '../../hub/fleet/device-inventory.js';
import { HubLink } from '../../hub/hub-link.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/sim-device.js';

let broker: Broker;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
});
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(async () => {
  await broker?.stop();
});

async function rig(count: number, opts: { maxDevices?: number; prefix?: string } = {}) {
  // a prefix per test: retained registrations of one test are not another's devices
  const prefix = opts.prefix ?? `inv${Math.random().toString(36).slice(2, 8)}`;
  const link = await HubLink.connect({ url: broker.url, prefix, fleet: true });
  closers.push(() => link.close());
  const changes: string[] = [];
  const inventory = new DeviceInventory(link, { requestTimeoutMs: 3000, onChange: (id) => changes.push(id), ...(opts.maxDevices ? { maxDevices: opts.maxDevices } : {}) });
  inventory.start();
  closers.push(async () => inventory.stop());
  const fleet: FakeFleet = await startFakeFleet({ brokerUrl: broker.url, prefix, count });
  closers.push(() => fleet.close());
  return { link, inventory, fleet, changes, prefix };
}

const observedAll = (inv: DeviceInventory, n: number) => waitFor(`${n} devices observed`, 20_000, async () => ([...inv.all()].filter((d) => d.firmware !== undefined).length >= n ? true : undefined));

describe('device inventory', () => {
  it('lists every device with its Object 3 and 5 values, observed once per registration', async () => {
    const { inventory, fleet } = await rig(40);
    await observedAll(inventory, 40);
    const d = inventory.get('dev-00013');
    expect(d).toMatchObject({ online: true, firmwareVersion: '1.3.0', deviceType: 'gateway-b', model: 'model-6', firmware: { state: 0, updateResult: 8, reason: 'the new firmware did not pass its health check' } });
    expect(inventory.get('dev-00000')?.faults).toEqual([{ code: 16, reason: 'the state folder is read-only' }]);
    // cancel the paths an earlier hub run may have left, then observe each once: 4 requests a device, no more
    const of13 = fleet.requests.filter((r) => r.ep === 'dev-00013').map((r) => `${r.op} ${r.path}`);
    expect(of13).toEqual(['cancel-observe /3', 'cancel-observe /5', 'observe /3', 'observe /5']);
    expect(fleet.requests).toHaveLength(160);
    expect(inventory.sortedIds()).toEqual(fleet.ids);
  });

  it('believes a notification only with its own token: a forged one (another token, another device) changes nothing', async () => {
    const { inventory, fleet, prefix } = await rig(3);
    await observedAll(inventory, 3);
    const forger = await mqtt.connectAsync(broker.url, { clientId: `forger-${prefix}` });
    closers.push(() => forger.endAsync());
    const value = { 3: 1, 5: 0, 26241: 77, 26242: 'forged' };
    // a token nobody holds, on dev-00001's topic; and a token the hub holds for dev-00002's observation, not dev-00001's
    await forger.publishAsync(`${prefix}/ir/dev-00001/notify`, JSON.stringify({ token: 'not-a-token', path: '/5', value: { 0: value }, seq: 1, time: Date.now() }), { qos: 1 });
    await fleet.notifyFirmware('dev-00002', { 3: 1, 26241: 5 });
    await waitFor('dev-00002 downloading', 5000, async () => (inventory.get('dev-00002')?.firmware?.progress === 5 ? true : undefined));
    expect(inventory.get('dev-00001')?.firmware).toMatchObject({ state: 0, progress: 0 });
    // the real device's notification is believed
    await fleet.notifyFirmware('dev-00001', { 3: 1, 26241: 42 });
    await waitFor('dev-00001 at 42%', 5000, async () => (inventory.get('dev-00001')?.firmware?.progress === 42 ? true : undefined));
    expect(inventory.get('dev-00001')?.firmware?.reason).not.toBe('forged');
  });

  it('asks nothing of an offline device; a restarted agent (new regId) is observed again once online', async () => {
    const { inventory, fleet } = await rig(2);
    await observedAll(inventory, 2);
    await fleet.presence('dev-00001', false);
    await waitFor('dev-00001 offline', 5000, async () => (inventory.get('dev-00001')?.online === false ? true : undefined));
    const before = fleet.requests.length;
    await fleet.register('dev-00001', 'restarted-1');
    await waitFor('the new registration', 5000, async () => (inventory.get('dev-00001')?.registeredAt !== null ? true : undefined));
    await new Promise((r) => setTimeout(r, 500));
    expect(fleet.requests.slice(before).filter((r) => r.ep === 'dev-00001')).toEqual([]);
    await fleet.presence('dev-00001', true);
    await waitFor('dev-00001 observed again', 5000, async () => (fleet.requests.slice(before).filter((r) => r.ep === 'dev-00001' && r.op === 'observe').length === 2 ? true : undefined));
    expect(fleet.requests.slice(before).map((r) => `${r.op} ${r.path}`)).toEqual(['cancel-observe /3', 'cancel-observe /5', 'observe /3', 'observe /5']);
    // and the new observations are the ones believed
    await fleet.notifyFirmware('dev-00001', { 3: 1, 26241: 64 });
    await waitFor('dev-00001 at 64%', 5000, async () => (inventory.get('dev-00001')?.firmware?.progress === 64 ? true : undefined));
  });

  it('keeps at most maxDevices entries, forgetting the least recently heard', async () => {
    const { inventory, fleet } = await rig(12, { maxDevices: 8 });
    await waitFor('8 entries', 10_000, async () => (inventory.size === 8 && [...inventory.all()].every((d) => d.online === true) ? true : undefined));
    expect(inventory.size).toBe(8);
    // the fleet registered in id order: the last 8 heard are kept
    await fleet.register('dev-00000');
    await waitFor('dev-00000 back', 5000, async () => (inventory.get('dev-00000') ? true : undefined));
    expect(inventory.size).toBe(8);
    expect(inventory.sortedIds()).toHaveLength(8);
  });
});
