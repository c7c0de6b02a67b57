// One rig per system test file for whole simulated devices (`fota sim run`: simulated U-Boot + the real agent): a
// real Mosquitto on a free port, a workspace (signing key, packages), the hub's side of the wire (HubLink), package
// servers (fault servers) and devices, started in beforeAll and all stopped in afterAll.
import { afterAll, beforeAll } from 'vitest';
import { HubLink } from '../../hub/hub-link.js';
import { startFaultServer, type Fault, type FaultServer } from './fault-server.js';
import { startMosquitto, type Broker } from './mosquitto.js';
import { readFw, requireBuild, startDevice, waitFor, workspace, type SimDevice, type Workspace } from './sim-device.js';

export interface DeviceRig {
  readonly broker: Broker;
  readonly ws: Workspace;
  /** the hub's side of the wire, on the same broker */
  readonly link: HubLink;
  /** serves `file` over HTTP (on `port` when given: a server back after an outage), with `faults` from the start */
  serve(file: string, opts?: { port?: number; faults?: Fault[] }): Promise<FaultServer>;
  /** starts a device (stopped in afterAll); `online` waits for it to answer */
  device(id: string, opts?: Parameters<typeof startDevice>[3]): SimDevice;
  online(id: string): Promise<void>;
}

/** Registers the rig's beforeAll/afterAll in the calling file; its fields are there once beforeAll ran. */
export function useDeviceRig(): DeviceRig {
  let broker: Broker | undefined;
  let ws: Workspace | undefined;
  let link: HubLink | undefined;
  const servers: FaultServer[] = [];
  const devices: SimDevice[] = [];
  const ready = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`the device rig's ${what} is not started (used outside a test?)`);
    return v;
  };
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
  const rig: DeviceRig = {
    get broker() {
      return ready(broker, 'broker');
    },
    get ws() {
      return ready(ws, 'workspace');
    },
    get link() {
      return ready(link, 'hub link');
    },
    async serve(file, opts = {}) {
      const srv = await startFaultServer({ body: { file }, ...(opts.port !== undefined ? { port: opts.port } : {}) });
      servers.push(srv);
      if (opts.faults) srv.setFaults(opts.faults);
      return srv;
    },
    device(id, opts = {}) {
      const d = startDevice(rig.ws, id, rig.broker.url, opts);
      devices.push(d);
      return d;
    },
    async online(id) {
      await waitFor(`${id} to answer`, 20_000, () => readFw(rig.link, id));
    },
  };
  return rig;
}
