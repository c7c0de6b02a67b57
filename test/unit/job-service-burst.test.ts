// JobService under a burst of child ends (a wave of devices answering in one socket read): the job's counts are
// read once per burst, not once per child, and the full pass over its children (the progress sum) at most once per
// PARENT_REFRESH_MS, so the hub's event loop (and every API answer) is not held for a second.
import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PARENT_REFRESH_MS } from '../../hub/jobs/job-service.js';
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
  /** answers the first `n` held requests in one turn */
  const releaseFirst = (n: number) => held.splice(0, n).forEach((f) => f());
  return { request, held, release, releaseFirst };
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
  const completed = (n: number) => ids.slice(0, n).every((id) => rig.store.get(`rd~${id}`)?.Status === 'Completed');

  it(`reads the job's counts a few times and its children's rows at most twice when ${DEVICES - 1} children end in one turn`, async () => {
    const { service, store } = rig;
    service.schedule({ jobId: 'rd', type: 'read-device-properties', deviceIds: ids, parameters: { paths: ['/3/0/3'], timeoutSeconds: 120 } });
    await vi.waitFor(() => expect(burst.held.length).toBe(DEVICES));
    const summary = vi.spyOn(store, 'summary');
    const rollup = vi.spyOn(store, 'rollup');
    // all but one device answer at once: the job stays open, so each child's end finds work to do
    burst.release(1);
    // (not waiting on the store's reads: the spies would count the polls)
    await vi.waitFor(() => expect(completed(DEVICES - 1)).toBe(true), { timeout: 5000 });
    await new Promise((r) => setImmediate(r));
    // one pump for the burst (two counts: what may start, then whether the job ended); per child it was 2 × 199
    // full passes over the children
    expect(summary).toHaveBeenCalled();
    expect(summary.mock.calls.length, `counts: ${summary.mock.calls.length}`).toBeLessThanOrEqual(10);
    expect(rollup.mock.calls.length, `full passes: ${rollup.mock.calls.length}`).toBeLessThanOrEqual(2);
    // the parent's progress and message follow within the refresh interval
    await vi.waitFor(() => expect(store.get('rd')).toMatchObject({ Progress: 99, StatusMessage: `${DEVICES} devices: ${DEVICES - 1} succeeded, 0 failed; 1 in progress` }), { timeout: PARENT_REFRESH_MS * 3 });
    burst.release();
    await vi.waitFor(() => expect(store.get('rd')?.Status).toBe('Completed'), { timeout: 5000 });
    expect(store.get('rd')).toMatchObject({ Progress: 100, StatusMessage: `${DEVICES} devices: ${DEVICES} succeeded, 0 failed` });
  });

  it('passes over the children at most once per refresh interval while ends keep coming in small bursts', async () => {
    const { service, store } = rig;
    service.schedule({ jobId: 'rd', type: 'read-device-properties', deviceIds: ids, parameters: { paths: ['/3/0/3'], timeoutSeconds: 120 } });
    await vi.waitFor(() => expect(burst.held.length).toBe(DEVICES));
    const rollup = vi.spyOn(store, 'rollup');
    const t0 = performance.now();
    // 19 bursts of 10 ends, 10 ms apart: each used to pass over every child twice
    for (let i = 0; i < 19; i++) {
      burst.releaseFirst(10);
      await new Promise((r) => setTimeout(r, 10));
    }
    await vi.waitFor(() => expect(completed(190)).toBe(true), { timeout: 5000 });
    const elapsed = performance.now() - t0;
    // a leading pass, then one per interval begun (a loaded machine may stretch the bursts over more than one)
    expect(rollup.mock.calls.length, `full passes: ${rollup.mock.calls.length} in ${elapsed.toFixed(0)} ms`).toBeLessThanOrEqual(2 + Math.ceil(elapsed / PARENT_REFRESH_MS));
    await vi.waitFor(() => expect(store.get('rd')?.StatusMessage).toBe(`${DEVICES} devices: 190 succeeded, 0 failed; 10 in progress`), { timeout: PARENT_REFRESH_MS * 3 });
    burst.release();
    await vi.waitFor(() => expect(store.get('rd')?.Status).toBe('Completed'), { timeout: 5000 });
  });
});
