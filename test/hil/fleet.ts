// The fleet side of the hil suite: the hub (in-process, SQLite job history), its MQTT broker and a package server
// with fault injection, plus the job helpers the scenarios share. For the virtual board everything listens on
// 127.0.0.1 and reaches the guest through QEMU's forwards; for a real board on the address the board reaches.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startHub, type RunningHub } from '../../hub/hub-server.js';
import type { JobRecord } from '../../hub/jobs/job-model.js';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { freePort, startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { fota, waitFor, type Workspace } from '../helpers/sim-device.js';
import { makeSlotImage } from './board/slot-image.js';

export interface Fleet {
  hub: RunningHub;
  pkgs: FaultServer;
  /** host-side ports (what QEMU forwards to) */
  brokerPort: number;
  pkgPort: number;
  close(): Promise<void>;
}

/** Starts broker, hub and package server; on `host` (a real board's side) or 127.0.0.1 (the virtual board). */
export async function startFleet(dir: string, host?: string): Promise<Fleet> {
  let broker: Broker | undefined;
  let hub: RunningHub | undefined;
  let pkgs: FaultServer | undefined;
  const close = async () => {
    await hub?.close();
    await pkgs?.close();
    await broker?.stop();
  };
  try {
    let brokerPort: number;
    if (host === undefined) {
      broker = await startMosquitto();
      brokerPort = broker.port;
      hub = await startHub({ link: { url: broker.url, prefix: 'lwm2m' }, prefix: 'lwm2m', db: join(dir, 'hub.db'), listen: { host: '127.0.0.1', port: 0 }, requestTimeoutMs: 5000 });
    } else {
      // the hub's embedded broker, where the board can reach it
      brokerPort = await freePort();
      hub = await startHub({ prefix: 'lwm2m', mqttListen: { host, port: brokerPort }, db: join(dir, 'hub.db'), listen: { host: '127.0.0.1', port: 0 }, requestTimeoutMs: 5000 });
    }
    pkgs = await startFaultServer({ body: Buffer.from('no package yet'), ...(host !== undefined ? { host } : {}) });
    return { hub, pkgs, brokerPort, pkgPort: Number(new URL(pkgs.origin).port), close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Schedules a firmware-update job for `device` with the package the server now serves at `uriBase/<jobId>.fota`. */
export function firmwareJob(fleet: Fleet, device: string, jobId: string, pkg: string, uriBase: string, timeoutSeconds = 1800): void {
  fleet.pkgs.setBody({ file: pkg });
  fleet.hub.service.schedule({ jobId, type: 'firmware-update', deviceIds: [device], parameters: { timeoutSeconds, packageUri: `${uriBase}/${jobId}.fota` } });
}

/** The device's child record of a job, while it runs or after. */
export function childOf(fleet: Fleet, jobId: string, device: string): JobRecord | undefined {
  return fleet.hub.service.get(jobId)?.children.find((c) => c.DeviceId === device);
}

export async function finished(fleet: Fleet, jobId: string, device: string, ms: number): Promise<JobRecord> {
  return waitFor(`job ${jobId} to end`, ms, async () => {
    const c = childOf(fleet, jobId, device);
    return c && ['Completed', 'Failed', 'Cancelled'].includes(c.Status) ? c : undefined;
  });
}

export async function registered(fleet: Fleet, device: string, ms: number): Promise<void> {
  await waitFor(`${device} to register with the hub`, ms, async () => fleet.hub.service.devices().find((d) => d.deviceId === device && d.registeredAt !== null));
}

/**
 * A signed package of `base` (an ext4 slot image) carrying firmware `version`, broken on request; gzipped unless
 * `gzip: false` (the agent resumes an interrupted download only of an uncompressed payload).
 */
export async function pack(ws: Workspace, dir: string, base: string, name: string, version: string, deviceType: string, opts: { broken?: boolean; gzip?: boolean } = {}): Promise<string> {
  const img = join(dir, `${name}.img`);
  await makeSlotImage(base, img, { version, ...(opts.broken ? { broken: true } : {}) });
  const out = join(dir, `${name}.fota`);
  await fota(['pack', '--image', img, '--version', version, '--device-type', deviceType, '--key', ws.key, ...(opts.gzip === false ? [] : ['--gzip']), '-o', out]);
  await rm(img);
  return out;
}
