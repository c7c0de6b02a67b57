// A JobService on a fresh job store, driven through a scripted HubLink (pure logic: no broker). Shared by the unit
// tests of the service's request loop and of its pump under bursts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeviceEvents, HubLink } from '../../hub/hub-link.js';
import { JobService } from '../../hub/jobs/job-service.js';
import { JobStore } from '../../hub/jobs/job-store.js';
import type { Response } from '../../protocol/messages.js';

/** A registration of device `ep` (as the hub link reports it). */
export const registration = (ep: string, regId: string) => ({ op: 'register' as const, ep, lwm2m: '1.2' as const, lt: 60, objects: ['/3/0'], agent: { name: 'fota-agent', version: '1' }, regId, time: Date.now() });

export interface JobServiceRig {
  store: JobStore;
  /** the temporary folder of the store's file (jobs.db) */
  dir: string;
  service: JobService;
  /** the service's device-event handlers: call them as the broker would */
  emit: () => DeviceEvents;
  /** a device registered and online */
  online(ep: string, regId?: string): void;
  close(): Promise<void>;
}

/**
 * Starts a JobService whose link sends every request to `request`, on a store in a new temporary folder. The request
 * timeout is far longer than a test may take: only what the test scripts gets a job done. close() stops and removes it.
 */
export async function startJobService(
  request: (ep: string, body: { op: string; path: string }, timeoutMs: number) => Promise<Response>,
  log?: (msg: string, fields?: Record<string, unknown>) => void,
): Promise<JobServiceRig> {
  let events: DeviceEvents = {};
  const link = {
    connected: true,
    whenConnected: () => Promise.resolve(),
    on(e: DeviceEvents) {
      events = e;
      return () => undefined;
    },
    request,
  } as unknown as HubLink;
  const dir = mkdtempSync(join(tmpdir(), 'fota-jobsvc-'));
  const store = JobStore.open(join(dir, 'jobs.db'));
  const service = new JobService({ store, link, requestTimeoutMs: 60_000, ...(log ? { log } : {}) });
  await service.start();
  return {
    store,
    dir,
    service,
    emit: () => events,
    online(ep, regId = 'r1') {
      events.registration?.(ep, registration(ep, regId));
      events.presence?.(ep, { online: true, time: Date.now() });
    },
    async close() {
      await service.stop();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
