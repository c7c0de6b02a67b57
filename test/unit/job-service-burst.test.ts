// JobService under a burst of child ends (a wave of devices answering in one socket read): the job's aggregates are
// read once per burst, not once per child, so the hub's event loop (and every API answer) is not held for a second.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Response } from '../../protocol/messages.js';
import { startJobService, type JobServiceRig } from '../helpers/job-service-rig.js';

const DEVICES = 200;
const ids = Array.from({ length: DEVICES }, (_, i) => `d${i}`);

/** requests held until release(), then answered in one turn */
function heldRequests() {
  const held: (() => void)[] = [];
  const request = (): Promise<Response> => new Promise((resolve) => held.push(() => resolve({ id: '1', code: '2.05', value: '2.0.0' })));
  /** answers all held requests but the last `keep` in one turn */
  const release = (keep = 0) => held.splice(0, held.length - keep).forEach((f) => f());
  return { request, held, release };
}

let rig: JobServiceRig;
let burst: ReturnType<typeof heldRequests>;

beforeEach(async () => {
  burst = heldRequests();
  rig = await startJobService(burst.request);
  for (const id of ids) rig.online(id);
});

afterEach(() => rig.close());

describe('JobService burst', () => {
  it(`reads the job's aggregates a few times, not per child, when ${DEVICES - 1} children end in one turn`, async () => {
    const { service, store } = rig;
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
