// The hub service, composed: the broker link (or the embedded broker), the job store, the job runner and the
// HTTP API. `fota hub` runs it in the foreground; the demo and the tests start it in-process.

import { buildVersion, startHttpApi } from './api/http-api.js';
import { Dashboard } from './dashboard/dashboard.js';
import { DeviceInventory } from './fleet/device-inventory.js';
import { startEmbeddedBroker, type EmbeddedBroker, type EmbeddedBrokerAuth } from './embedded-broker.js';
import { HubLink, type HubLinkOptions } from './hub-link.js';
import { lockHubDatabase } from './hub-lock.js';
import { JobService } from './jobs/job-service.js';
import { JobStore } from './jobs/job-store.js';
import { isBusy } from './jobs/store-gate.js';

export interface HubOptions {
  /** an external broker; without it the embedded one is started on `mqttListen` */
  link?: Omit<HubLinkOptions, 'fleet'>;
  prefix: string;
  mqttListen?: { host: string; port: number };
  /** credentials and ACL of the embedded broker (required off loopback) */
  mqttAuth?: EmbeddedBrokerAuth;
  /** the most devices the hub keeps track of */
  maxDevices?: number;
  db: string;
  listen: { host: string; port: number };
  token?: string;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  requestTimeoutMs?: number;
  /** shown by the dashboard and GET /v1/health (default: the build's version) */
  version?: string;
}

export interface RunningHub {
  /** the HTTP API */
  url: string;
  /** the broker devices connect to */
  brokerUrl: string;
  service: JobService;
  close(): Promise<void>;
}

/** Opens the job database, waiting (and saying so) while another process holds its lock. */
async function openStore(db: string, log: (msg: string, fields?: Record<string, unknown>) => void): Promise<JobStore> {
  for (let waitMs = 250; ; waitMs = Math.min(waitMs * 2, 5000)) {
    try {
      return JobStore.open(db);
    } catch (e) {
      if (!isBusy(e)) throw e;
      log('job database locked by another process: waiting to open it', { retryInMs: waitMs });
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }
}

export async function startHub(opts: HubOptions): Promise<RunningHub> {
  const log = opts.log ?? (() => undefined);
  let broker: EmbeddedBroker | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch((e: unknown) => log('shutdown step failed', { error: String(e) }));
  };
  try {
    // first: a second hub on the same database must not even touch the broker (it would take the first's devices)
    const lock = lockHubDatabase(opts.db);
    cleanups.push(async () => lock.release());
    let linkOpts: HubLinkOptions;
    if (opts.link) linkOpts = { ...opts.link, fleet: true };
    else {
      const at = opts.mqttListen ?? { host: '127.0.0.1', port: 1883 };
      broker = await startEmbeddedBroker(at.host, at.port, opts.mqttAuth, log);
      cleanups.push(() => broker!.close());
      log('embedded MQTT broker listening', { url: broker.url, authentication: opts.mqttAuth ? 'password file and ACL' : 'none (loopback only)' });
      linkOpts = { url: broker.url, prefix: opts.prefix, fleet: true, ...broker.hubCredentials };
    }
    const store = await openStore(opts.db, log);
    cleanups.push(async () => store.close());
    // no fixed client id: a unique one per run, so a second hub or a CLI never takes this one's session
    const link = await HubLink.connect({ ...linkOpts, log });
    cleanups.push(() => link.close());
    // the web dashboard's view of the devices (observes /3 and /5 of each) and its live feed of job changes
    let dashboard: Dashboard | undefined;
    const inventory = new DeviceInventory(link, {
      log,
      onChange: (id) => dashboard?.deviceChanged(id),
      ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
      ...(opts.maxDevices !== undefined ? { maxDevices: opts.maxDevices } : {}),
    });
    inventory.start();
    cleanups.push(async () => inventory.stop());
    dashboard = new Dashboard({ store, inventory, version: opts.version ?? buildVersion(), log, ...(opts.token ? { token: opts.token } : {}) });
    cleanups.push(async () => dashboard?.close());
    const service = new JobService({
      store,
      link,
      log,
      ...(opts.requestTimeoutMs !== undefined ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
      ...(opts.maxDevices !== undefined ? { maxDevices: opts.maxDevices } : {}),
    });
    await service.start();
    cleanups.push(() => service.stop());
    const api = await startHttpApi(service, { host: opts.listen.host, port: opts.listen.port, ...(opts.token ? { token: opts.token } : {}), log: (line) => log(line), dashboard });
    cleanups.push(() => api.close());
    return { url: api.url, brokerUrl: linkOpts.url, service, close };
  } catch (e) {
    await close();
    throw e;
  }
}
