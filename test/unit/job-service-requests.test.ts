// JobService's request loop against a scripted link (pure logic: the real broker paths are in test/system/jobs.test.ts):
// an answer lost because the device's agent restarted is asked for again at once, not after the request timeout.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RequestTimeout } from '../../hub/hub-link.js';
import type { Response } from '../../protocol/messages.js';
import { registration, startJobService, type JobServiceRig } from '../helpers/job-service-rig.js';

const reg = (regId: string) => registration('d1', regId);

/** requests whose first is never answered (lost with the old agent process); later ones answer at once */
function scriptedRequests() {
  const calls: string[] = [];
  const timers: NodeJS.Timeout[] = [];
  const request = (ep: string, body: { op: string; path: string }, timeoutMs: number): Promise<Response> => {
    calls.push(`${body.op} ${body.path}`);
    if (calls.length === 1) return new Promise((_, reject) => timers.push(setTimeout(() => reject(new RequestTimeout(ep, timeoutMs / 1000)), timeoutMs)));
    return Promise.resolve({ id: String(calls.length), code: '2.05', value: '2.0.0' });
  };
  return { request, calls, clear: () => timers.forEach(clearTimeout) };
}

let rig: JobServiceRig;
let scripted: ReturnType<typeof scriptedRequests>;

beforeEach(async () => {
  scripted = scriptedRequests();
  // the rig's request timeout is far longer than the test may take: only the re-registration can get the job done in time
  rig = await startJobService(scripted.request);
  rig.online('d1');
});

afterEach(async () => {
  scripted.clear();
  await rig.close();
});

describe('JobService requests', () => {
  it('asks again at once when the device re-registers before answering', async () => {
    const { service, store } = rig;
    service.schedule({ jobId: 'rd', type: 'read-device-properties', deviceIds: ['d1'], parameters: { paths: ['/3/0/3'], timeoutSeconds: 120 } });
    await vi.waitFor(() => expect(scripted.calls).toEqual(['read /3/0/3']));
    // the agent restarted (e.g. the reboot of an update): the first request went to the old process
    rig.emit().registration?.('d1', reg('r2'));
    await vi.waitFor(() => expect(store.get('rd~d1')?.Status).toBe('Completed'), { timeout: 3000 });
    expect(scripted.calls).toEqual(['read /3/0/3', 'read /3/0/3']);
    expect(store.get('rd~d1')?.Values).toEqual({ '/3/0/3': '2.0.0' });
  });

  it('does not ask again for other events of the same registration', async () => {
    const { service, store } = rig;
    service.schedule({ jobId: 'rd', type: 'read-device-properties', deviceIds: ['d1'], parameters: { paths: ['/3/0/3'], timeoutSeconds: 120 } });
    await vi.waitFor(() => expect(scripted.calls.length).toBe(1));
    rig.emit().registration?.('d1', reg('r1')); // a registration update, same regId
    rig.emit().notification?.('d1', { token: 't', path: '/5/0', value: {}, seq: 1, time: Date.now() });
    await new Promise((r) => setTimeout(r, 200));
    expect(scripted.calls.length).toBe(1);
    expect(store.get('rd~d1')?.Status).toBe('Running');
  });
});
