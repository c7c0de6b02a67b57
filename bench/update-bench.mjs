// Update benchmark (`npm run bench`): the fota agent, a real process under `fota sim run`, downloading a signed package
// over loopback HTTP into its slot file, against `curl | tee >(openssl dgst -sha256) | dd conv=fsync` on the same file.
// Interleaved rounds, a warm-up, medians. Linux only (/proc); needs mosquitto, curl, openssl. docs/benchmarks.md.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep, startFileServer, startMosquitto, startSimDevice, stopAll, trackChild } from './lib/children.mjs';
import { DeviceLink } from './lib/device-link.mjs';
import { topSelfTime } from './lib/cpu-profile.mjs';
import { probePeaks } from './lib/memory-probe.mjs';
import { runPipeline } from './lib/pipeline.mjs';
import { cpuSeconds, memoryKiB, resetPeakRss, sampleRss, smapsKiB } from './lib/proc-stats.mjs';
import { markdown, MiB, toCsv } from './lib/report.mjs';
import { bytesNeeded, checkFreeSpace, cpuCounters, load1, makePackages, resetSlot, stealPct, syncAll, warmPageCache } from './lib/workload.mjs';

// Knobs (environment): SIZES_MIB ("256 1024"), ROUNDS (5), WARMUP (1), TOOLS ("agent pipeline"; add node-min for the
// minimal Node script), RESET (discard | zero: how the slot is cleared before a run), BENCH_DIR (/var/tmp), KEEP=1 (keep
// the work folder). Investigation: PROBE=1 (V8 heap / external split), PROFILE_DIR=DIR (CPU profile of the agent),
// AGENT_NODE_OPTIONS (e.g. "--max-semi-space-size=1"), AGENT_SET ("download.checkpointMiB=64 …", as `sim run
// --agent-set`), FOTA_AGENT_BIN (another agent build, read by `fota sim run`).
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FOTA = path.join(ROOT, 'bin', 'fota.js');
const SIZES = (process.env.SIZES_MIB ?? '256 1024').trim().split(/\s+/).map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const WARMUP = Number(process.env.WARMUP ?? 1);
const TOOLS = (process.env.TOOLS ?? 'agent pipeline').trim().split(/\s+/);
const RESET = process.env.RESET ?? 'discard';
const BASE_DIR = path.resolve(process.env.BENCH_DIR ?? (existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir()));
// issue 12: RSS at most 64 MiB; private memory (what the kernel cannot drop) at most 24 MiB, Mender's whole RSS
const LIMITS = { peakMiB: 64, privateMiB: 24, growthMiB: 5 };
const SETTLE_MS = 3000;
const DEVICE_ID = 'update-bench';
const PROBE = process.env.PROBE === '1';
const AGENT_NODE_OPTIONS = process.env.AGENT_NODE_OPTIONS ?? '';
const PROFILE_DIR = process.env.PROFILE_DIR ? path.resolve(process.env.PROFILE_DIR) : '';
const AGENT_SET = (process.env.AGENT_SET ?? '').trim().split(/\s+/).filter(Boolean);

const log = (msg) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function checkSetup() {
  if (process.platform !== 'linux') throw new Error('this benchmark reads /proc: run it on Linux');
  if (!SIZES.every((s) => Number.isInteger(s) && s >= 1)) throw new Error(`SIZES_MIB="${process.env.SIZES_MIB}" must be whole MiB counts, e.g. "256 1024"`);
  if (!(Number.isInteger(ROUNDS) && ROUNDS >= 1 && Number.isInteger(WARMUP) && WARMUP >= 0)) throw new Error('ROUNDS must be >= 1 and WARMUP >= 0 (whole numbers)');
  const unknown = TOOLS.filter((t) => !['agent', 'pipeline', 'node-min'].includes(t));
  if (unknown.length || !TOOLS.includes('pipeline')) throw new Error(`TOOLS="${TOOLS.join(' ')}": choose from agent, pipeline, node-min; pipeline is required (it is the reference)`);
  if (!['discard', 'zero'].includes(RESET)) throw new Error(`RESET="${RESET}" must be discard or zero`);
  if (!existsSync(path.join(ROOT, 'dist', 'fota-agent.mjs')) || !existsSync(path.join(ROOT, 'dist', 'fota.mjs'))) throw new Error('dist/ is missing: run `npm run bench` (it builds first) or `npm run build`');
  for (const tool of ['mosquitto', 'curl', 'openssl', 'dd', 'tee', 'bash', 'sync']) {
    try {
      execFileSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} is not installed (Debian: apt-get install ${tool === 'mosquitto' ? 'mosquitto' : tool === 'openssl' ? 'openssl' : tool === 'curl' ? 'curl' : 'coreutils'})`);
    }
  }
}

function machine() {
  const v = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n')[0];
    } catch {
      return '?';
    }
  };
  const words = (text, n) => text.split(' ').slice(0, n).join(' ');
  return [
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${os.release()}; Node ${process.version}; ${words(v('openssl', ['version']), 2)}; ${words(v('curl', ['--version']), 2)}; slot = sparse file on ${v('findmnt', ['-n', '-o', 'FSTYPE', '-T', BASE_DIR])} under ${BASE_DIR}`,
    `Run: ${new Date().toISOString()}, SIZES_MIB="${SIZES.join(' ')}" ROUNDS=${ROUNDS} WARMUP=${WARMUP} TOOLS="${TOOLS.join(' ')}" RESET=${RESET}${process.env.FOTA_AGENT_BIN ? ` FOTA_AGENT_BIN=${process.env.FOTA_AGENT_BIN}` : ''}${AGENT_SET.length ? ` AGENT_SET="${AGENT_SET.join(' ')}"` : ''}${AGENT_NODE_OPTIONS ? ` AGENT_NODE_OPTIONS="${AGENT_NODE_OPTIONS}"` : ''}${PROBE ? ' PROBE=1' : ''}${Object.entries(process.env).filter(([k]) => k.startsWith('MALLOC_')).map(([k, x]) => ` ${k}=${x}`).join('')}, load1 at start ${load1()}`,
  ];
}

/** The last `n` lines of a log file ('' when unreadable). */
function tail(file, n) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

let agentPidForProfile;
/** set once teardown began (Ctrl-C): no new measurement may start a process after that */
let interrupted = false;

function printProfile(file) {
  if (!existsSync(file)) return log(`no CPU profile at ${file} (did the agent exit cleanly?)`);
  const rows = topSelfTime(file, 25);
  const lines = ['', `Agent CPU profile (${file}), top functions by self time over the agent's whole life:`, '', '| self s | share | function |', '|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.seconds.toFixed(2)} | ${(100 * r.share).toFixed(1)}% | ${r.where.replaceAll('|', '\\|')} |`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** The probe's maxima (KiB) as CSV columns; empty without PROBE=1. */
const probeColumns = (p) => (p ? { heap_total_kib: p.heapTotal, heap_used_kib: p.heapUsed, external_kib: p.external, array_buffers_kib: p.arrayBuffers } : {});

/** Order of the tools in round r: rotated by one each round (agent, pipeline / pipeline, agent / …). */
const orderFor = (r) => TOOLS.map((_, i) => TOOLS[(i + r) % TOOLS.length]);

async function main() {
  checkSetup();
  const need = bytesNeeded(SIZES);
  checkFreeSpace(BASE_DIR, need);
  const work = mkdtempSync(path.join(BASE_DIR, 'fota-update-bench-'));
  const www = path.join(work, 'www');
  mkdirSync(www);
  // one teardown, shared by the signal handler and the normal/failure path: whoever comes second waits for it
  let teardown;
  const cleanup = () =>
    (teardown ??= (async () => {
      interrupted = true;
      await stopAll();
      if (process.env.KEEP === '1') log(`kept ${work}`);
      else rmSync(work, { recursive: true, force: true });
    })());
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      log(`${sig}: stopping every process and removing ${work}`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  let link;
  try {
    log(`work folder ${work} (${(need / 2 ** 30).toFixed(1)} GiB needed)`);
    const header = machine();
    header.push(`Agent Node flags: ${process.env.FOTA_AGENT_NODE_FLAGS ?? '(the defaults of platform/agent-runtime.ts)'}`);
    const { pubKey, packages } = await makePackages({ fotaBin: FOTA, wwwDir: www, keyDir: work, sizesMib: SIZES, log });
    const broker = await startMosquitto(work);
    const origin = await startFileServer(www, work);
    const slotBytes = (Math.max(...SIZES) + 16) * MiB;
    const devDir = path.join(work, 'device');
    const probeDir = path.join(work, 'probe');
    const preload = (file) => `--import=${new URL(file, import.meta.url).href}`;
    const nodeOptions = [process.env.NODE_OPTIONS ?? '', AGENT_NODE_OPTIONS, PROBE ? preload('./lib/memory-probe.mjs') : '', PROFILE_DIR ? preload('./lib/cpu-profile.mjs') : ''].filter(Boolean).join(' ');
    if (PROBE) mkdirSync(probeDir);
    if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
    const env = nodeOptions ? { NODE_OPTIONS: nodeOptions, FOTA_BENCH_PROBE_DIR: probeDir, FOTA_BENCH_PROFILE_DIR: PROFILE_DIR } : undefined;
    const sim = startSimDevice({ fotaBin: FOTA, dir: devDir, id: DEVICE_ID, broker, trustKey: pubKey, slotBytes, logFile: path.join(work, 'device.log'), env, agentSet: AGENT_SET });
    link = await DeviceLink.open({ repoRoot: ROOT, workDir: work, broker, id: DEVICE_ID });
    await link.ready(60_000).catch((e) => {
      throw new Error(`${e.message}\nlast lines of the device log:\n${tail(path.join(work, 'device.log'), 15)}`);
    });
    const agentPid = sim.agentPid();
    if (!agentPid) throw new Error(`the agent process was not found under fota sim run (pid ${sim.entry.child.pid}); see ${work}/device.log`);
    const slot = path.join(devDir, 'slot-b.img');
    if (statSync(slot).size !== slotBytes) throw new Error(`unexpected slot size ${statSync(slot).size}`);
    await sleep(SETTLE_MS);
    const idle = { ...memoryKiB(agentPid), smaps: smapsKiB(agentPid) };
    const probeFile = path.join(probeDir, `agent-${agentPid}.jsonl`);
    const probe = (from, to) => (PROBE ? probePeaks(probeFile, from, to) : undefined);
    const idleProbe = probe(Date.now() - 1000, Date.now());
    log(`agent pid ${agentPid} registered; idle VmRSS ${(idle.VmRSS / 1024).toFixed(1)} MiB`);

    const rows = [];
    const prepare = (pkg) => {
      resetSlot(slot, slotBytes, RESET, pkg.bytes);
      warmPageCache(pkg.file);
      syncAll();
    };
    const runs = {
      async agent(pkg) {
        if (sim.agentPid() !== agentPid) throw new Error(`the agent restarted (pid ${sim.agentPid()} instead of ${agentPid}); see ${work}/device.log`);
        const cpu0 = cpuSeconds(agentPid);
        const hwmReset = resetPeakRss(agentPid);
        const sampler = sampleRss(agentPid);
        const timeoutMs = 120_000 + pkg.bytes / 5e3; // ≥ 5 MB/s, or something is wrong
        // Downloaded (2), or a failure: back to Idle (0) after Downloading (1) with an Update Result 2..9
        let started = false;
        const done = link.waitFor((e) => {
          if (e.value?.['3'] === 1) started = true;
          return e.value && (e.value['3'] === 2 || (started && e.value['3'] === 0 && e.value['5'] > 1));
        }, timeoutMs, 'Downloaded');
        const t0 = performance.now();
        const wall0 = Date.now();
        await link.write('/5/0/1', `${origin}/${pkg.name}`);
        const { at } = await done;
        const heap = probe(wall0, Date.now());
        const cpu1 = cpuSeconds(agentPid);
        const mem = memoryKiB(agentPid);
        const peaks = sampler.stop();
        const ok = link.state === 2;
        const note = ok ? (hwmReset ? '' : 'VmHWM not reset (clear_refs refused): lifetime peak') : `download failed: result ${link.result} ${link.reason}`;
        // back to Idle so that the next round can download again (an empty Package URI cancels / resets)
        const idleAgain = link.waitFor((e) => e.value && e.value['3'] === 0, 30_000, 'Idle after reset');
        await link.write('/5/0/1', '');
        await idleAgain;
        return { ok, note, wall_s: (at - t0) / 1000, user_s: cpu1.user - cpu0.user, sys_s: cpu1.sys - cpu0.sys, peak_rss_kib: mem.VmHWM, peak_anon_kib: peaks.RssAnon, peak_file_kib: peaks.RssFile, peak_pss_kib: peaks.Pss, peak_private_kib: peaks.Private, rss_samples: peaks.samples, ...probeColumns(heap) };
      },
      async pipeline(pkg) {
        const r = await runPipeline({ url: `${origin}/${pkg.name}`, slot, workDir: work });
        const ok = r.sha256 === pkg.sha256;
        return { ok, note: ok ? '' : `digest ${r.sha256} != ${pkg.sha256}`, wall_s: r.wallS, user_s: r.userS, sys_s: r.sysS };
      },
      async 'node-min'(pkg) {
        const script = new URL('./lib/minimal-install.mjs', import.meta.url).pathname;
        const text = await new Promise((resolve, reject) => {
          const p = spawn(process.execPath, [script, `${origin}/${pkg.name}`, slot], { stdio: ['ignore', 'pipe', 'inherit'] });
          trackChild('node-min', p);
          let s = '';
          p.stdout.on('data', (d) => (s += d));
          p.once('error', reject);
          p.once('exit', (code) => (code === 0 ? resolve(s) : reject(new Error(`minimal-install exited ${code}`))));
        });
        const r = JSON.parse(text);
        const ok = r.sha256 === pkg.sha256;
        return { ok, note: ok ? 'wall from request to fdatasync; CPU and RSS include Node start-up' : 'digest mismatch', wall_s: r.wallS, user_s: r.userS, sys_s: r.sysS, peak_rss_kib: r.maxRssKiB };
      },
    };

    for (let round = 1 - WARMUP; round <= ROUNDS; round++) {
      const warmup = round < 1;
      for (const size of SIZES) {
        const pkg = packages.get(size);
        const order = orderFor(round + WARMUP - 1);
        for (const [position, tool] of order.entries()) {
          if (interrupted) throw new Error('interrupted');
          prepare(pkg);
          const c0 = cpuCounters();
          const l1 = load1();
          let r;
          try {
            r = await runs[tool](pkg);
          } catch (e) {
            if (tool === 'agent') throw e; // the device is in an unknown state: stop rather than measure garbage
            r = { ok: false, note: e.message, wall_s: NaN, user_s: NaN, sys_s: NaN };
          }
          const row = { round, warmup: warmup ? 1 : 0, size_mib: size, package_bytes: pkg.bytes, tool, position, ...r, cpu_s: r.user_s + r.sys_s, mb_s: pkg.bytes / r.wall_s / 1e6, steal_pct: stealPct(c0, cpuCounters()), load1: l1 };
          rows.push(row);
          const rss = row.peak_rss_kib ? `, peak RSS ${(row.peak_rss_kib / 1024).toFixed(1)} MiB` : '';
          log(`round ${round}${warmup ? ' (warm-up)' : ''} ${size} MiB ${tool}: ${r.ok ? '' : `FAILED (${r.note}) `}${r.wall_s.toFixed(2)} s, ${row.mb_s.toFixed(0)} MB/s, CPU ${row.cpu_s.toFixed(2)} s${rss}`);
        }
      }
    }

    await sleep(SETTLE_MS);
    const end = { ...memoryKiB(agentPid), smaps: smapsKiB(agentPid) };
    const { markdown: md, verdicts } = markdown({ rows, sizes: SIZES, tools: TOOLS, memory: { idle, end, idleProbe, endProbe: probe(Date.now() - 1000, Date.now()) }, limits: LIMITS, header });
    const resultsDir = path.join(ROOT, 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
    const base = path.join(resultsDir, `update-${stamp}-${RESET}`);
    writeFileSync(`${base}.csv`, toCsv(rows));
    writeFileSync(`${base}.md`, `${md}\n`);
    process.stdout.write(`${md}\n\nRaw rows: ${path.relative(ROOT, base)}.csv\n`);
    agentPidForProfile = agentPid;
    return verdicts;
  } finally {
    await link?.close().catch(() => undefined);
    await cleanup();
    // the profile is written when the agent exits, i.e. during cleanup
    if (PROFILE_DIR && agentPidForProfile) printProfile(path.join(PROFILE_DIR, `agent-${agentPidForProfile}.cpuprofile`));
  }
}

// `npm run bench -- --peers`: the peers benchmark instead (bench/peers-bench.mjs runs on import)
if (process.argv.includes('--peers')) await import('./peers-bench.mjs');
else if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write('Usage: npm run bench [-- --peers]   (knobs in the environment: docs/benchmarks.md, "Update benchmark")\n');
} else main().then(
  () => process.exit(0),
  (e) => {
    console.error(`update-bench: ${e.message}`);
    process.exit(1);
  },
);
