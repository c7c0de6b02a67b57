// JobService under a burst of child ends (a wave of devices answering in one socket read): the job's aggregates are
// read once per burst, not once per child, so the hub's event loop (and every API answer) is not held for a second.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DeviceEvents, HubLink } from '../../hub/hub-link.js';
import { JobStore } from '../../hub/jobs/job-store.js';
import { JobService } from '../../hub/jobs/job-service.js';
import type { Response } from '../../protocol/messages.js';

const DEVICES = 200;
const ids = Array.from({ length: DEVICES }, (_, i) => `d${i}`);
const reg = (ep: string) => ({ op: 'register' as const, ep, lwm2m: '1.2' as const, lt: 60, objects: ['/3/0'], agent: { name: 'fota-agent', version: '1' }, regId: 'r1', time: Date.now() });

/** a link that holds every request until release(), then answers them in one turn */
function burstLink() {
  let events: DeviceEvents = {};
  const held: (() => void)[] = [];
  const link = {
    connected: true,
    whenConnected: () => Promise.resolve(),
    on(e: DeviceEvents) {
      events = e;
      return () => undefined;
    },
    request(): Promise<Response> {
      return new Promise((resolve) => held.push(() => resolve({ id: '1', code: '2.05', value: '2.0.0' })));
    },
  };
  /** answers all held requests but the last `keep` in one turn */
  const release = (keep = 0) => held.splice(0, held.length - keep).forEach((f) => f());
  return { link: link as unknown as HubLink, emit: () => events, held, release };
}

let dir: string;
let store: JobStore;
let service: JobService;
let burst: ReturnType<typeof burstLink>;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fota-jobburst-'));
  store = JobStore.open(join(dir, 'jobs.db'));
  burst = burstLink();
  service = new JobService({ store, link: burst.link, requestTimeoutMs: 60_000 });
  await service.start();
  for (const id of ids) {
    burst.emit().registration?.(id, reg(id));
    burst.emit().presence?.(id, { online: true, time: Date.now() });
  }
});

afterEach(async () => {
  await service.stop();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('JobService burst', () => {
  it(`reads the job's aggregates a few times, not per child, when ${DEVICES - 1} children end in one turn`, async () => {
    service.schedule({ jobId: 'rd', type: 'read-device-properties', deviceIds: ids, parameters: { paths: ['/3/0/3'], timeoutSeconds: 120 } });
    await vi.waitFor(() => expect(burst.held.length).toBe(DEVICES));
    const rollup = vi.spyOn(store, 'rollup');
    // all but one device answer at once: the job stays open, so each child's end finds work to do
    burst.release(1);
    // (not waiting on store.rollup: the spy would count the polls)
    await vi.waitFor(() => expect(ids.slice(0, -1).every((id) => store.get(`rd~${id}`)?.Status === 'Completed')).toBe(true), { timeout: 5000 });
    await new Promise((r) => setImmediate(r));
    // one pump for the burst (its two reads: what may start, then the parent's progress); per child it was 2 × 199
    expect(rollup).toHaveBeenCalled();
    expect(rollup.mock.calls.length, `rollups: ${rollup.mock.calls.length}`).toBeLessThanOrEqual(10);
    burst.release();
    await vi.waitFor(() => expect(store.get('rd')?.Status).toBe('Completed'), { timeout: 5000 });
    expect(store.get('rd')?.StatusMessage).toMatch(new RegExp(`^${DEVICES} devices: ${DEVICES} succeeded`));
  });
});
