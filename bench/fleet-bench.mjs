// Fleet benchmark: N simulated devices (full agents, spread over fleet-host processes of at most HOST_DEVICES each)
// updated by ONE firmware-update job through Mosquitto and the hub (`fota hub`, its own process); reports devices per
// minute, the hub's CPU and memory, the agent hosts' memory, and query latency over 100,000 job records through the
// running hub's HTTP API, during the job (a sampler, every SAMPLE_MS) and after it. Run: `npm run bench:fleet`
// (builds dist/ first). docs/benchmarks.md ("Fleet benchmark") explains it.
// Knobs (env): N ("100 MAX"; numbers, MAX, SEARCH = double from 200 until a run fails or MAX_N), REPEAT (1: the N
// list that many times, one run after the other), MAX_N, HOST_DEVICES (3200 devices per fleet-host process),
// HOST_NICE (10: the hosts' nice value, so the simulated devices' CPU yields to the hub; 0 = none),
// INVENTORY (1: schedule once the hub's inventory observed every device; 0: at once), IMAGE_KIB (1024),
// JOB_TIMEOUT_S (600), MAX_IN_FLIGHT (500; all = every device at once: one kernel then carries every device's TCP
// buffers, docs/benchmarks.md), RUNS (30 per query), SAMPLE_MS (1000), RSS_MS
// (250), HISTORY_PARENTS (1000) x HISTORY_CHILDREN (99), MOSQ_MAX_QUEUED (100000; "default" = Mosquitto's 1000),
// MOSQ_MAX_INFLIGHT (100; "default" = 20), LOG_LEVEL (info), START_CONCURRENCY (32, shared by the hosts),
// HOST_NODE_OPTIONS, HUB_NODE_OPTIONS, BENCH_DIR (os.tmpdir()), KEEP (1: the work folder; logs: without the device
// folders). Linux only (/proc); needs mosquitto and prlimit (util-linux).

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildBundles } from './fleet/bundle.mjs';
import { raiseFdLimit } from './fleet/fd-limit.mjs';
import { stopAll } from './fleet/processes.mjs';
import { load1 } from './fleet/proc-stats.mjs';
import { fix, toCsv } from './fleet/report.mjs';
import { runFleet } from './fleet/run-fleet.mjs';
import { fleetReport } from './fleet/summary.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FOTA = path.join(ROOT, 'bin', 'fota.js');
/**
 * MAX in the N list: the largest N whose run stays within ~5 minutes on the reference machine (6,400 also passes
 * but takes ~11 min alone; 12,800 broke the single fleet-host process: docs/benchmarks.md, Fleet benchmark).
 */
const MEASURED_MAX = 3200;
const env = process.env;
const num = (name, dflt) => {
  const v = env[name] === undefined || env[name] === '' ? dflt : Number(env[name]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name}="${env[name]}" must be a positive number`);
  return v;
};
const limit = (name, dflt) => (env[name] === 'default' ? undefined : num(name, dflt));
const CFG = {
  maxN: num('MAX_N', env.N?.includes('SEARCH') ? 12_800 : MEASURED_MAX),
  imageSize: num('IMAGE_KIB', 1024) * 1024,
  jobTimeoutS: num('JOB_TIMEOUT_S', 600),
  runs: num('RUNS', 30),
  repeat: num('REPEAT', 1),
  hostDevices: num('HOST_DEVICES', 3200),
  hostNice: env.HOST_NICE === '0' ? 0 : num('HOST_NICE', 10),
  sampleEveryMs: num('SAMPLE_MS', 1000),
  waitInventory: env.INVENTORY !== '0',
  rssEveryMs: num('RSS_MS', 250),
  parents: num('HISTORY_PARENTS', 1000),
  children: num('HISTORY_CHILDREN', 99),
  maxQueued: limit('MOSQ_MAX_QUEUED', 100_000),
  maxInflight: limit('MOSQ_MAX_INFLIGHT', 100),
  logLevel: env.LOG_LEVEL ?? 'info',
  startConcurrency: num('START_CONCURRENCY', 32),
  hostNodeOptions: (env.HOST_NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean),
  hubNodeOptions: (env.HUB_NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean),
  baseDir: path.resolve(env.BENCH_DIR ?? os.tmpdir()),
  // 1: keep the work folder; logs: keep it without the device folders (GBs at 10,000 devices)
  keep: env.KEEP === '1' ? 'all' : env.KEEP === 'logs' ? 'logs' : '',
  maxInFlight: env.MAX_IN_FLIGHT === 'all' ? undefined : num('MAX_IN_FLIGHT', 500),
};
const PREFIX = 'lwm2m';
const NEW_VERSION = '2.0.0';

const log = (msg) => process.stderr.write(`[fleet-bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** The N list: numbers, MAX (= MAX_N) and SEARCH (200, 400, … up to MAX_N, until one fails). */
function plan() {
  const once = (env.N ?? '100 MAX').trim().split(/[\s,]+/);
  if (!Number.isInteger(CFG.repeat)) throw new Error(`REPEAT="${env.REPEAT}" must be a whole number`);
  const tokens = Array.from({ length: CFG.repeat }, () => once).flat();
  return tokens.map((t) => {
    if (t === 'MAX') return { n: CFG.maxN };
    if (t === 'SEARCH') return { search: true };
    const n = Number(t);
    if (!Number.isInteger(n) || n < 1) throw new Error(`N="${env.N}": use whole numbers, MAX or SEARCH (e.g. "100 MAX")`);
    return { n };
  });
}

function checkSetup() {
  if (process.platform !== 'linux') throw new Error('this benchmark reads /proc: run it on Linux');
  if (!['info', 'warn', 'error'].includes(CFG.logLevel)) throw new Error(`LOG_LEVEL="${CFG.logLevel}" must be info, warn or error`);
  if (CFG.imageSize < 8192) throw new Error('IMAGE_KIB must be at least 8');
  if (!existsSync(path.join(ROOT, 'dist', 'fota.mjs'))) throw new Error('dist/ is missing: run `npm run bench:fleet` (it builds first) or `npm run build`');
  try {
    execFileSync('sh', ['-c', 'command -v mosquitto'], { stdio: 'ignore' });
  } catch {
    throw new Error('mosquitto is not installed (Debian: apt-get install mosquitto)');
  }
}

function machine() {
  const mosq = (() => {
    try {
      return execFileSync('mosquitto', ['-h'], { encoding: 'utf8' }).split('\n')[0];
    } catch (e) {
      return String(e.stdout ?? '').split('\n')[0] || 'mosquitto ?';
    }
  })();
  const commit = (() => {
    try {
      return execFileSync('git', ['-C', ROOT, 'log', '-1', '--format=%h %cd', '--date=format:%Y-%m-%d %H:%M'], { encoding: 'utf8' }).trim();
    } catch {
      return '?';
    }
  })();
  return `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${os.release()}; Node ${process.version}; ${mosq}; fota at commit ${commit}`;
}

async function main() {
  checkSetup();
  const steps = plan();
  const started = new Date().toISOString();
  const work = mkdtempSync(path.join(CFG.baseDir, 'fota-fleet-bench-'));
  let pkgServer;
  let interrupted = false;
  const cleanup = async () => {
    await stopAll();
    await pkgServer?.close().catch(() => undefined);
    if (!CFG.keep) rmSync(work, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      if (interrupted) return;
      interrupted = true;
      log(`${sig}: stopping every process this bench started`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    // the package server in this process holds one socket per downloading device
    const benchFd = raiseFdLimit(process.pid);
    log(`work dir ${work}; machine: ${machine()}; load1 ${load1()}; bench fd limit ${benchFd}`);
    const bundles = await buildBundles(ROOT, path.join(work, 'bundle'));
    const lib = await import(pathToFileURL(bundles.lib).href);
    const pkgDir = path.join(work, 'pkg');
    mkdirSync(pkgDir);
    const pkg = await lib.makePackage(pkgDir, CFG.imageSize, NEW_VERSION);
    pkgServer = await lib.startPackageServer({ dir: pkgDir, host: '127.0.0.1', port: 0 });
    const historyDb = path.join(work, 'history.db');
    log(`seeding ${(CFG.parents * (CFG.children + 1)).toLocaleString('en')} job records…`);
    const seed = lib.seedHistory(historyDb, { parents: CFG.parents, children: CFG.children, endMs: Date.now() - 86_400_000 });
    log(`seeded ${seed.records.toLocaleString('en')} records in ${fix(seed.ms / 1000)} s`);
    const samples = [];
    const ctx = { lib, bundles, work, pkg, pkgServer, seed, historyDb, started, cfg: CFG, log, fotaBin: FOTA, prefix: PREFIX, newVersion: NEW_VERSION, machine: machine(), benchFd, samples, runIndex: 0 };
    const results = [];
    const outDir = path.join(ROOT, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    const stamp = started.replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    // written after every run, so an interrupted search keeps what it measured
    const save = () => {
      const text = fleetReport(results, ctx);
      writeFileSync(path.join(outDir, `fleet-${stamp}.csv`), toCsv(results.map(({ queries, ...r }) => r)));
      writeFileSync(path.join(outDir, `fleet-${stamp}-queries.csv`), toCsv(results.flatMap((r) => (r.queries ?? []).map((q) => ({ n: r.n, ...q })))));
      writeFileSync(path.join(outDir, `fleet-${stamp}-during.csv`), toCsv(samples.map((x) => ({ ...x, t_s: x.t_s.toFixed(2), ms: x.ms.toFixed(2) }))));
      writeFileSync(path.join(outDir, `fleet-${stamp}.md`), text);
      return text;
    };
    const run = async (n) => {
      ctx.runIndex++;
      const r = await runFleet(n, ctx);
      results.push(r);
      save();
      return r;
    };
    for (const step of steps) {
      if (interrupted) break;
      if (!step.search) {
        await run(step.n);
        continue;
      }
      for (let n = 200; n <= CFG.maxN && !interrupted; n *= 2) if (!(await run(n)).ok) break;
    }
    process.stdout.write(`\n${save()}`);
    log(`results: bench/results/fleet-${stamp}{.csv,-queries.csv,-during.csv,.md}`);
    process.exitCode = results.every((r) => r.ok) ? 0 : 1;
  } finally {
    if (!interrupted) await cleanup();
  }
}

main().catch(async (e) => {
  log(`failed: ${e.stack ?? e}`);
  await stopAll().catch(() => undefined);
  process.exit(1);
});
