// `fota demo`: the classic fleet firmware update on one machine, with nothing to set up. Starts the hub (with its
// embedded broker), a package server and N simulated devices (real fota-agent processes), builds and signs a 3.0.0
// package, runs one firmware-update job for all devices and shows it to the end. Cleans up everything it started.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeSimImage } from '../../platform/simulator/image-header.js';
import { startHub, type RunningHub } from '../../hub/hub-server.js';
import { JobClient } from '../../hub/job-client.js';
import type { JobRecord } from '../../hub/jobs/job-model.js';
import { startPackageServer } from '../../hub/package-server.js';
import { keygen, keyIdOf, loadPrivateKey, pack } from '../package/package-tools.js';

export interface DemoOptions {
  devices: number;
  broken: number;
  /** image size in bytes */
  size: number;
  /** keep the work directory (logs, device folders) */
  keep: boolean;
  /** the fota launcher (bin/fota.js) used to start `fota sim run` devices */
  fotaBin: string;
  timeoutSeconds: number;
  say(line: string): void;
  /** an interactive terminal: redraw the running list in place */
  tty: boolean;
}

const PKG = 'fw-3.0.0.fota';
const BROKEN_PKG = 'fw-3.0.0-broken.fota';

class Cleanup {
  private readonly steps: (() => Promise<unknown>)[] = [];
  add(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    for (const s of this.steps.splice(0).reverse()) await s().catch(() => undefined);
  }
}

function startDevice(o: DemoOptions, work: string, id: string, version: string, brokerUrl: string, slotSize: number): ChildProcess {
  const log = createWriteStream(join(work, 'devices', `${id}.log`));
  const child = spawn(
    process.execPath,
    [o.fotaBin, 'sim', 'run', '--dir', join(work, 'devices', id), '--id', id, '--broker', brokerUrl, '--trust', join(work, 'keys', 'release.pub'), '--version', version, '--image-size', String(o.size), '--slot-size', String(slotSize)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

async function stopDevice(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((ok) => child.once('exit', ok));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

function hhmmss(iso: string | null): string {
  return iso ? iso.slice(11, 19) : '--:--:--';
}

function describeChild(c: JobRecord): string {
  return c.StatusMessage || c.Status.toLowerCase();
}

/** Prints the final listing: the children sorted by start time, the parent last. */
function printHistory(o: DemoOptions, jobs: JobRecord[], parentId: string): void {
  const children = jobs.filter((j) => j.JobId !== parentId).sort((a, b) => (a.StartTime ?? '').localeCompare(b.StartTime ?? ''));
  const parent = jobs.find((j) => j.JobId === parentId);
  const rows = parent ? [...children, parent] : children;
  const idW = Math.max(6, ...rows.map((r) => r.JobId.length));
  const devW = Math.max(6, ...rows.map((r) => (r.DeviceId || '(all)').length));
  o.say('');
  o.say(`All ${rows.length} jobs (${children.length} children by start time, then the parent):`);
  o.say(`  ${'JOB'.padEnd(idW)}  ${'DEVICE'.padEnd(devW)}  ${'STATUS'.padEnd(9)}  START     END       RESULT`);
  for (const r of rows) {
    const result = r.StatusMessage;
    o.say(`  ${r.JobId.padEnd(idW)}  ${(r.DeviceId || '(all)').padEnd(devW)}  ${r.Status.padEnd(9)}  ${hhmmss(r.StartTime)}  ${hhmmss(r.EndTime)}  ${result}`);
  }
}

export async function runDemo(o: DemoOptions): Promise<number> {
  const cleanup = new Cleanup();
  const work = await mkdtemp(join(tmpdir(), 'fota-demo-'));
  cleanup.add(async () => (o.keep ? o.say(`kept ${work} (device folders, logs, hub.db)`) : rm(work, { recursive: true, force: true })));
  const interrupted = new Promise<'interrupted'>((ok) => {
    const onSig = () => ok('interrupted');
    process.once('SIGINT', onSig);
    process.once('SIGTERM', onSig);
    cleanup.add(async () => {
      process.off('SIGINT', onSig);
      process.off('SIGTERM', onSig);
    });
  });
  try {
    const result = await Promise.race([main(o, work, cleanup), interrupted]);
    if (result === 'interrupted') {
      o.say('\ninterrupted: stopping the devices, the hub and the servers…');
      return 130;
    }
    return result;
  } finally {
    await cleanup.run();
  }
}

async function main(o: DemoOptions, work: string, cleanup: Cleanup): Promise<number> {
  const mib = (o.size / 1024 / 1024).toFixed(o.size < 1024 * 1024 ? 2 : 0);
  o.say(`fota demo: ${o.devices} simulated devices${o.broken ? `, ${o.broken} of them get an image that never boots` : ''}, ${mib} MiB firmware images`);
  await mkdir(join(work, 'devices'));
  const hubLog = createWriteStream(join(work, 'hub.log'));
  const hub: RunningHub = await startHub({
    mqttListen: { host: '127.0.0.1', port: 0 },
    prefix: 'lwm2m',
    db: join(work, 'hub.db'),
    listen: { host: '127.0.0.1', port: 0 },
    log: (msg, fields) => hubLog.write(JSON.stringify({ time: new Date().toISOString(), msg, ...fields }) + '\n'),
  });
  cleanup.add(() => hub.close());
  o.say(`  hub started: API ${hub.url}, embedded MQTT broker ${hub.brokerUrl}`);

  const ids = Array.from({ length: o.devices }, (_, i) => `sim-${i + 1}`);
  const broken = new Set(shuffle(ids).slice(0, o.broken));
  // the signing key stays out of the served folder: only the packages are published
  await mkdir(join(work, 'keys'), { mode: 0o700 });
  await mkdir(join(work, 'packages'));
  await keygen(join(work, 'keys', 'release'));
  const key = await loadPrivateKey(join(work, 'keys', 'release.key'));
  await makeSimImage({ version: '3.0.0', size: o.size, broken: false, out: join(work, 'fw-3.0.0.img') });
  await pack({ image: join(work, 'fw-3.0.0.img'), version: '3.0.0', deviceTypes: ['fota-sim'], name: 'demo-firmware', key, out: join(work, 'packages', PKG) });
  if (broken.size > 0) {
    await makeSimImage({ version: '3.0.0', size: o.size, broken: true, out: join(work, 'fw-3.0.0-broken.img') });
    await pack({ image: join(work, 'fw-3.0.0-broken.img'), version: '3.0.0', deviceTypes: ['fota-sim'], name: 'demo-firmware', key, out: join(work, 'packages', BROKEN_PKG) });
  }
  o.say(`  signed package ${PKG} built (key ${keyIdOf(key)})${broken.size ? `; the package server hands ${[...broken].sort().join(', ')} a broken build of it` : ''}`);
  const server = await startPackageServer({
    dir: join(work, 'packages'),
    host: '127.0.0.1',
    port: 0,
    // agents say who they are in their User-Agent: "fota-agent/0.1.0 (sim-3)"
    choose: (path, req) => (path === `/${PKG}` && broken.has(/\(([^)]+)\)/.exec(req.headers['user-agent'] ?? '')?.[1] ?? '') ? `/${BROKEN_PKG}` : path),
  });
  cleanup.add(() => server.close());
  const uri = server.urlOf(PKG);
  o.say(`  package server: ${uri}`);

  const slotSize = Math.max(64 * 1024 * 1024, Math.ceil((o.size * 1.1) / 1048576) * 1048576);
  const versions = new Map(ids.map((id) => [id, Math.random() < 0.5 ? '1.0.0' : '2.0.0']));
  const children = ids.map((id) => startDevice(o, work, id, versions.get(id)!, hub.brokerUrl, slotSize));
  cleanup.add(() => Promise.all(children.map(stopDevice)));
  o.say(`  started ${o.devices} devices: ${ids.map((id) => `${id} (${versions.get(id)})`).join(', ')}`);

  const deadline = Date.now() + 60_000;
  for (;;) {
    const online = new Set(hub.service.devices().filter((d) => d.online).map((d) => d.deviceId));
    if (ids.every((id) => online.has(id))) break;
    if (Date.now() > deadline) throw new Error(`devices did not come online within 60 s (see ${join(work, 'devices')}/*.log)`);
    if (children.some((c) => c.exitCode !== null)) throw new Error(`a device stopped at start (see ${join(work, 'devices')}/*.log)`);
    await new Promise((r) => setTimeout(r, 200));
  }
  o.say(`  all ${o.devices} devices registered`);

  const client = new JobClient({ url: hub.url });
  const jobId = `demo-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`;
  await client.scheduleFirmwareUpdate(jobId, ids, uri, o.timeoutSeconds);
  o.say(`\nscheduled firmware-update job ${jobId}: 1 parent + ${o.devices} children (${o.devices + 1} jobs)\n`);

  let drawn = 0;
  for (;;) {
    const detail = await client.getJob(jobId, { children: o.devices }); // every child: a demo has at most 200
    const running = detail.children.filter((c) => c.Status === 'Running' || c.Status === 'Queued');
    const t = new Date().toISOString().slice(11, 19);
    const lines = [`${t}  running jobs: ${running.length} of ${detail.children.length}  (${detail.job.StatusMessage})`, ...running.map((c) => `  ${c.DeviceId.padEnd(8)} ${c.JobId.padEnd(jobId.length + 8)} ${describeChild(c)}`)];
    if (o.tty && drawn > 0) process.stdout.write(`\x1b[${drawn}F\x1b[J`);
    for (const l of lines) o.say(l);
    drawn = lines.length;
    if (detail.job.Status !== 'Running' && detail.job.Status !== 'Queued') break;
    await new Promise((r) => setTimeout(r, 1000));
  }

  const page = await client.queryJobHistory({
    filter: {
      type: 'or',
      filters: [
        { type: 'comparison', property: { name: 'JobId', type: 'default' }, value: jobId, comparisonOperator: 'eq' },
        { type: 'comparison', property: { name: 'ParentJobId', type: 'default' }, value: jobId, comparisonOperator: 'eq' },
      ],
    },
    sort: [{ property: 'StartTime', order: 'asc' }],
    page: { size: 1000 },
  });
  printHistory(o, page.jobs, jobId);
  const parent = page.jobs.find((j) => j.JobId === jobId);
  o.say(`\n${parent?.Status === 'Completed' ? 'done' : 'finished with failures'}: ${parent?.StatusMessage ?? ''}`);
  return parent?.Status === 'Completed' || (o.broken > 0 && parent?.Status === 'Failed') ? 0 : 1;
}
