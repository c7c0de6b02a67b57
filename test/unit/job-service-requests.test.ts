// JobService's request loop against a scripted link (pure logic: the real broker paths are in test/system/jobs.test.ts):
// an answer lost because the device's agent restarted is asked for again at once, not after the request timeout.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RequestTimeout, type DeviceEvents, type HubLink } from '../../hub/hub-link.js';
import { JobStore } from '../../hub/jobs/job-store.js';
import { JobService } from '../../hub/jobs/job-service.js';
import type { Response } from '../../protocol/messages.js';

const reg = (regId: string) => ({ op: 'register' as const, ep: 'd1', lwm2m: '1.2' as const, lt: 60, objects: ['/3/0'], agent: { name: 'fota-agent', version: '1' }, regId, time: Date.now() });

/** a link whose first request is never answered (lost with the old agent process); later ones answer at once */
function scriptedLink() {
  let events: DeviceEvents = {};
  const calls: string[] = [];
  const timers: NodeJS.Timeout[] = [];
  const link = {
    connected: true,
    whenConnected: () => Promise.resolve(),
    on(e: DeviceEvents) {
      events = e;
      return () => undefined;
    },
    request(ep: string, body: { op: string; path: string }, timeoutMs: number): Promise<Response> {
      calls.push(`${body.op} ${body.path}`);
      if (calls.length === 1) return new Promise((_, reject) => timers.push(setTimeout(() => reject(new RequestTimeout(ep, timeoutMs / 1000)), timeoutMs)));
      return Promise.resolve({ id: String(calls.length), code: '2.05', value: '2.0.0' });
    },
  };
  return { link: link as unknown as HubLink, calls, emit: () => events, clear: () => timers.forEach(clearTimeout) };
}

let dir: string;
let store: JobStore;
let service: JobService;
let scripted: ReturnType<typeof scriptedLink>;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fota-jobsvc-'));
  store = JobStore.open(join(dir, 'jobs.db'));
  scripted = scriptedLink();
  // a request timeout far longer than the test may take: only the re-registration can get the job done in time
  service = new JobService({ store, link: scripted.link, requestTimeoutMs: 60_000 });
  await service.start();
  scripted.emit().registration?.('d1', reg('r1'));
  scripted.emit().presence?.('d1', { online: true, time: Date.now() });
});

afterEach(async () => {
  scripted.clear();
  await service.stop();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('JobService requests', () => {
  it('asks again at once when the device re-registers before answering', async () => {
    service.schedule({ jobId: 'rd', type: 'read-device-properties', deviceIds: ['d1'], parameters: { paths: ['/3/0/3'], timeoutSeconds: 120 } });
    await vi.waitFor(() => expect(scripted.calls).toEqual(['read /3/0/3']));
    // the agent restarted (e.g. the reboot of an update): the first request went to the old process
    scripted.emit().registration?.('d1', reg('r2'));
    await vi.waitFor(() => expect(store.get('rd~d1')?.Status).toBe('Completed'), { timeout: 3000 });
    expect(scripted.calls).toEqual(['read /3/0/3', 'read /3/0/3']);
    expect(store.get('rd~d1')?.Values).toEqual({ '/3/0/3': '2.0.0' });
  });

  it('does not ask again for other events of the same registration', async () => {
    service.schedule({ jobId: 'rd', type: 'read-device-properties', deviceIds: ['d1'], parameters: { paths: ['/3/0/3'], timeoutSeconds: 120 } });
    await vi.waitFor(() => expect(scripted.calls.length).toBe(1));
    scripted.emit().registration?.('d1', reg('r1')); // a registration update, same regId
    scripted.emit().notification?.('d1', { token: 't', path: '/5/0', value: {}, seq: 1, time: Date.now() });
    await new Promise((r) => setTimeout(r, 200));
    expect(scripted.calls.length).toBe(1);
    expect(store.get('rd~d1')?.Status).toBe('Running');
  });
});
