// A long run in one agent process (issue 10 #9): 50 × (download a 16 MiB package, cancel) on a simulated device over
// a real broker and HTTP server, with the resident set of the real agent process read from /proc. Odd cycles cancel
// mid-download (the server stalls halfway), even ones once the package is Downloaded. The resident set must stay
// bounded: after the first cycles have warmed it up, the growth over the rest stays under a few MiB. It caught the
// end-of-download "full GC" that was a minor one on Node 20 (agent/adapters/memory.ts): +0.7 MiB per cycle, 66 -> 85 MiB.
import { stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubLink } from '../../hub/hub-link.js';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { agentPid, makePackage, readFw, requireBuild, rssKiB, startDevice, waitFor, workspace, type SimDevice, type Workspace } from '../helpers/sim-device.js';

const CYCLES = 50;
/** cycles before the baseline: allocator arenas, V8's heap and the JIT-less code caches settle first */
const WARMUP = 5;
/** allowed growth from the baseline to the end, in MiB */
const BOUND_MIB = 4;

let broker: Broker;
let ws: Workspace;
let link: HubLink;
let srv: FaultServer;
let d: SimDevice;
/** bytes of the package */
let size = 0;

beforeAll(async () => {
  requireBuild();
  broker = await startMosquitto();
  ws = await workspace();
  link = await HubLink.connect({ url: broker.url, prefix: 'lwm2m' });
  const pkg = await makePackage(ws, '2.0.0', { size: '16M' });
  size = (await stat(pkg)).size;
  srv = await startFaultServer({ body: { file: pkg } });
});

afterAll(async () => {
  await d?.stop();
  await link?.close();
  await srv?.close();
  await broker?.stop();
  await ws?.cleanup();
});

async function state(id: string): Promise<number | undefined> {
  return (await readFw(link, id))?.state;
}

/** Object 5's download progress (percent), while Downloading */
async function downloading(id: string): Promise<number | undefined> {
  const r = await link.request(id, { op: 'read', path: '/5/0' }, 2000).catch(() => undefined);
  const o = r?.code === '2.05' ? (r.value as Record<string, unknown>) : undefined;
  return Number(o?.['3']) === 1 ? Number(o?.['26241']) : undefined;
}

/**
 * A firmware request as a hub sends it: a 5.03 (the agent's rate of 2 firmware requests a second, burst 10; an idle
 * machine runs these cycles faster than that) is tried again after a pause.
 */
async function firmwareRequest(id: string, req: { op: 'write'; path: string; value: string } | { op: 'execute'; path: string }): Promise<string> {
  for (let i = 0; ; i++) {
    const r = await link.request(id, req, 5000);
    if (r.code !== '5.03' || i >= 20) return r.code;
    await new Promise((ok) => setTimeout(ok, 600));
  }
}

describe('the agent over a long run', () => {
  it(`${CYCLES} × (download 16 MiB, cancel halfway or once Downloaded) in one process: the resident set stays within ${BOUND_MIB} MiB of where it settled`, async () => {
    const id = 'mem-1';
    d = startDevice(ws, id, broker.url, { agentSet: ['progressIntervalMs=100'] });
    await waitFor(`${id} to answer`, 30_000, () => readFw(link, id));
    const pid = await waitFor('the agent process', 10_000, () => agentPid(d));
    const samples: number[] = [];
    let baseline = 0;
    for (let i = 1; i <= CYCLES; i++) {
      const halfway = i % 2 === 1;
      // halfway: the server sends half the package, then nothing. The agent reports how far it got once its progress
      // interval ends (100 ms here), and waits out a stall for stallTimeoutSec (60 s) before it reconnects: the cancel
      // comes first
      srv.setFaults(halfway ? [{ on: 'every', stallAfter: Math.floor(size / 2) }] : []);
      expect(await firmwareRequest(id, { op: 'write', path: '/5/0/1', value: srv.url('/fw.fota') }), `cycle ${i}`).toBe('2.04');
      if (halfway) await waitFor(`cycle ${i}: halfway`, 60_000, async () => ((await downloading(id)) ?? 0) >= 40 || undefined);
      else await waitFor(`cycle ${i}: Downloaded`, 60_000, async () => ((await state(id)) === 2 ? true : undefined));
      expect(await firmwareRequest(id, { op: 'execute', path: '/5/0/10' }), `cycle ${i}: Cancel`).toBe('2.04');
      await waitFor(`cycle ${i}: Idle`, 10_000, async () => ((await state(id)) === 0 ? true : undefined));
      expect(await agentPid(d), 'the same agent process all along').toBe(pid);
      const rss = (await rssKiB(pid))!;
      samples.push(rss);
      if (i === WARMUP) baseline = rss;
    }
    const end = samples.at(-1)!;
    const mib = (k: number) => (k / 1024).toFixed(1);
    console.info(`agent RSS over ${CYCLES} cycles (MiB): first ${mib(samples[0]!)}, after ${WARMUP} ${mib(baseline)}, max ${mib(Math.max(...samples))}, end ${mib(end)}; every 5th: ${samples.filter((_, i) => i % 5 === 4).map(mib).join(' ')}`);
    expect((end - baseline) / 1024, 'growth after the warm-up, MiB').toBeLessThan(BOUND_MIB);
  }, 600_000);
});
