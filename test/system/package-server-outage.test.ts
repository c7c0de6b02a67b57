// The package server goes away in the middle of a download — process stopped, connections reset, the port
// refusing — and comes back on the same address after a few seconds, or not at all. A whole simulated device (`fota
// sim run`: the real agent process) over a real Mosquitto; the server is the test's fault server stopped and started
// again on its port (the same file gets the same ETag, as a real server restarted would give).
import { describe, expect, it } from 'vitest';
import { useDeviceRig } from '../helpers/device-rig.js';
import type { FaultServer } from '../helpers/fault-server.js';
import { driveUpdate, makePackage, waitFor } from '../helpers/sim-device.js';

const rig = useDeviceRig();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// 1 MiB/s: the download is under way for seconds, so the outage lands in its middle
const THROTTLED = [{ on: 'every' as const, throttle: 1024 * 1024 }];

/** The first byte offset of each GET the server saw (0 without a Range). */
const offsets = (s: FaultServer) => s.requests.filter((r) => r.method === 'GET').map((r) => Number(/^bytes=(\d+)-/.exec(String(r.headers.range ?? ''))?.[1] ?? 0));

/** Starts the update of `id` from a server that goes away 2.5 s into the download; resolves with the update's end. */
async function updateThroughOutage(id: string, version: string, agentSet: string[]) {
  const pkg = await makePackage(rig.ws, version, { size: '8M' });
  const first = await rig.serve(pkg, { faults: THROTTLED });
  rig.device(id, { agentSet });
  await rig.online(id);
  const update = driveUpdate(rig.link, id, first.url('/fw.fota'), 120_000);
  await waitFor('the download to start', 20_000, async () => (first.requests.length > 0 ? true : undefined));
  await sleep(2500);
  await first.close(); // connections destroyed, the port refuses from now on
  const back = () => rig.serve(pkg, { port: Number(new URL(first.origin).port), faults: THROTTLED });
  return { update, back };
}

describe('package server outages mid-download', () => {
  it.each([{ seconds: 2 }, { seconds: 15 }])('down for $seconds s: the agent retries, resumes where it was (a Range request), and the update completes', async ({ seconds }) => {
    const version = `4.${seconds}.0`;
    // the shipped retry settings (8 retries without progress, from 1 s doubling, full jitter: about 1.5 min of
    // outage on average); a checkpoint every MiB so the resume point is recent
    const { update, back } = await updateThroughOutage(`outage-${seconds}`, version, ['download.checkpointMiB=1']);
    await sleep(seconds * 1000);
    const again = await back();
    expect(await update).toMatchObject({ state: 0, result: 1, version });
    // it went on from where it was, not from byte 0
    expect(offsets(again).length).toBeGreaterThan(0);
    expect(offsets(again)[0]).toBeGreaterThan(1024 * 1024);
  }, 180_000);

  it('down for longer than the retry budget: Update Result 4 with the reason, the device keeps its firmware and updates later', async () => {
    const { update, back } = await updateThroughOutage('outage-long', '4.9.0', ['download.retries=3', 'download.initialDelaySec=0.2', 'download.maxDelaySec=0.5']);
    const fw = await update;
    console.log(`package server gone: Update Result ${fw.result}: ${fw.reason}`);
    expect(fw).toMatchObject({ state: 0, result: 4, version: '1.0.0' });
    expect(fw.reason).toMatch(/127\.0\.0\.1/);
    expect(fw.reason).toMatch(/refused|ECONNREFUSED|connect/i);
    // the server is back: the next job works
    const again = await back();
    expect(await driveUpdate(rig.link, 'outage-long', again.url('/fw.fota'), 90_000)).toMatchObject({ state: 0, result: 1, version: '4.9.0' });
  }, 180_000);
});
