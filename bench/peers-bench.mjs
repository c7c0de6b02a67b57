// Peers benchmark (`npm run bench:peers`, or `npm run bench -- --peers`): fota beside Mender 3.4 (`mender install`,
// standalone), SWUpdate (`swupdate -d -u`) and the openssl pipeline, installing the same random image over loopback
// HTTP into slot B (loop devices when losetup works, else files) in interleaved rounds. Root, Debian tools; installs
// nothing. Design from /work/shared/peers (setup.sh, run.sh, fota-run.mjs). docs/benchmarks.md, "Peers benchmark".

import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFileServer, startMosquitto, stopAll } from './lib/children.mjs';
import { DeviceLink } from './lib/device-link.mjs';
import { checkNeeds, makeEnv, makeImages, makeSlots, removeSystemFiles, setupMender } from './lib/peer-setup.mjs';
import { runFotaAgent, runTimed } from './lib/peer-runs.mjs';
import { peersMarkdown, PEER_COLUMNS } from './lib/peers-report.mjs';
import { runPipeline } from './lib/pipeline.mjs';
import { holdNetwork, holdSlotReads, paceProblems } from './lib/device-pace.mjs';
import { perfMarkdown, perfWorks, summarizePerf } from './lib/perf-profile.mjs';
import { sampleTree } from './lib/tree-sampler.mjs';
import { MiB, toCsv } from './lib/report.mjs';
import { checkFreeSpace, load1, warmPageCache } from './lib/workload.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ALL = ['pipeline', 'fota', 'fota-jit', 'mender', 'swupdate'];
const HELP = `Usage: npm run bench:peers            (or: npm run bench -- --peers; as root)

fota beside Mender (mender-client), SWUpdate (swupdate) and the pipeline curl | tee >(openssl dgst) | dd, one random
image over loopback HTTP into slot B, interleaved rounds, medians of per-round ratios. Needs root, losetup (else file
slots and no Mender), and: apt-get install mosquitto curl openssl libubootenv-tool u-boot-tools mender-client
mender-artifact swupdate cpio. It installs nothing; it writes /etc/fw_env.config and /etc/mender/artifact_info
(refusing if they exist and are not its own) and removes them at the end. Never run it on a device.

Environment: SIZES_MIB ("256"), ROUNDS (3), WARMUP (1), TOOLS ("${ALL.join(' ')}"; fota = the systemd unit's Node
flags, fota-jit = the same without --jitless), SCHEME (http; https serves the packages over TLS 1.3 with a throwaway
CA that curl and fota are given; Mender and SWUpdate are then left out), BENCH_DIR (/var/tmp), KEEP=1 (keep the work
folder).

Two agents in the same rounds: add fota-b to TOOLS and set FOTA_B_BIN to another build's bin/fota-agent.js (say a git
worktree of another commit, after npm ci && npm run build there); it runs with the unit's flags and FOTA_B_FLAGS
(extra Node flags, e.g. "--single-threaded-gc"), and the table adds its wall ratio against fota's, round by round.

A device's pace (root; undone at the end): NET_MBPS=40 holds the loopback network to 40 MB/s (tc tbf on lo: the
machine's whole loopback, while the benchmark runs), SLOT_READ_MBPS=100 holds the slots' reads to 100 MB/s (a cgroup
the benchmark and every tool it starts run in). On loopback the CPU sets the pace; on a device the network does.

PERF=1: after the rounds, one more fota run per size (not counted in the table) under \`perf record\` (apt-get install
linux-perf), and where its CPU went: SHA-256, the kernel, V8's interpreter, V8's runtime and GC, copies, malloc.`;

const SIZES = (process.env.SIZES_MIB ?? '256').trim().split(/\s+/).map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WARMUP = Number(process.env.WARMUP ?? 1);
const TOOLS = (process.env.TOOLS ?? ALL.join(' ')).trim().split(/\s+/);
const BASE_DIR = path.resolve(process.env.BENCH_DIR ?? '/var/tmp');
const SCHEME = process.env.SCHEME ?? 'http';
/** fota-b: another agent build, with the unit's flags and these */
const B_BIN = process.env.FOTA_B_BIN ? path.resolve(process.env.FOTA_B_BIN) : undefined;
const B_FLAGS = (process.env.FOTA_B_FLAGS ?? '').trim().split(/\s+/).filter(Boolean);
const PERF = process.env.PERF === '1';
const mbps = (name) => (process.env[name] ? Number(process.env[name]) : undefined);
const NET_MBPS = mbps('NET_MBPS');
const SLOT_READ_MBPS = mbps('SLOT_READ_MBPS');
const log = (msg) => process.stderr.write(`[peers ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** The agent's Node flags and environment as the systemd unit starts it (the settings the project recommends). */
function unitRuntime() {
  const unit = readFileSync(path.join(ROOT, 'systemd', 'fota-agent.service'), 'utf8');
  const exec = /^ExecStart=\S+ (.*?) \/opt\/fota\/fota-agent\.mjs/m.exec(unit);
  if (!exec) throw new Error('cannot read the Node flags from systemd/fota-agent.service (ExecStart=node FLAGS /opt/fota/fota-agent.mjs …)');
  const env = Object.fromEntries([...unit.matchAll(/^Environment=(\w+)=(\S*)$/gm)].map((m) => [m[1], m[2]]));
  return { flags: exec[1].split(/\s+/).filter(Boolean), env };
}

/**
 * The tests' throwaway CA and server certificate for 127.0.0.1 (test/helpers/tls.ts, bundled here with esbuild as
 * bench/slot-write-bench.mjs bundles the slot writer), written as PEM files in `dir`. Returns their paths: `ca` for the
 * clients, `key` + `cert` for the server.
 */
async function makeServerCert(dir) {
  mkdirSync(dir, { recursive: true });
  const lib = path.join(dir, 'tls.mjs');
  await build({ bundle: true, platform: 'node', format: 'esm', target: 'node18', logLevel: 'warning', absWorkingDir: ROOT, entryPoints: [path.join(ROOT, 'test', 'helpers', 'tls.ts')], outfile: lib });
  const certs = await (await import(lib)).makeTestCerts();
  const files = { ca: 'ca.pem', key: 'server.key', cert: 'server.pem' };
  for (const [k, f] of Object.entries(files)) writeFileSync(path.join(dir, f), certs[k], { mode: 0o600 });
  return Object.fromEntries(Object.entries(files).map(([k, f]) => [k, path.join(dir, f)]));
}

/** SHA-256 of the first `bytes` of the slot, read past the page cache (O_DIRECT). */
function slotSha(slot, mib) {
  return execFileSync('sh', ['-c', 'dd if="$1" iflag=direct bs=1M count="$2" status=none | openssl dgst -sha256 -r', 'sh', slot, String(mib)], { encoding: 'utf8' }).split(' ')[0];
}

/** Slot B emptied before each run: discarded on a loop device (blocks freed, cache dropped), re-created as a file. */
function resetSlotB(slots, bytes) {
  if (slots.kind === 'file') {
    truncateSync(slots.files[1], 0);
    truncateSync(slots.files[1], bytes);
  } else execFileSync('blkdiscard', [slots.b]);
}

/** What each tool's environment must look like after a good install (the pipeline never touches it). */
function envOk(tool, text) {
  const has = (kv) => text.split('\n').includes(kv);
  if (tool === 'pipeline') return has('boot_slot=A') && has('upgrade_available=0');
  if (tool === 'mender') return has('mender_boot_part=3') && has('upgrade_available=1');
  if (tool === 'swupdate') return has('boot_slot=B') && has('upgrade_available=1');
  return has('boot_part=B') && has('boot_slot=A') && has('mender_boot_part=2');
}

async function main() {
  if (process.argv.includes('--help') || process.argv.includes('-h')) return void process.stdout.write(`${HELP}\n`);
  const unknown = TOOLS.filter((t) => !ALL.includes(t) && t !== 'fota-b');
  if (unknown.length || !TOOLS.includes('pipeline')) throw new Error(`TOOLS="${TOOLS.join(' ')}": choose from ${ALL.join(', ')} (and fota-b); pipeline is required (the ratios are per round against it)`);
  if (PERF && !perfWorks()) throw new Error('PERF=1 needs perf: apt-get install linux-perf (and root, or kernel.perf_event_paranoid <= 1)');
  if (TOOLS.includes('fota-b') && !(B_BIN && existsSync(B_BIN))) throw new Error(`fota-b needs FOTA_B_BIN, the path of another build's bin/fota-agent.js${B_BIN ? ` (${B_BIN} does not exist)` : ''}`);
  if (!SIZES.every((s) => Number.isInteger(s) && s >= 1) || !(ROUNDS >= 1 && WARMUP >= 0)) throw new Error('SIZES_MIB must be whole MiB counts, ROUNDS >= 1, WARMUP >= 0');
  if (!['http', 'https'].includes(SCHEME)) throw new Error(`SCHEME="${SCHEME}" must be http or https`);
  const problems = checkNeeds(TOOLS);
  if (problems.length) throw new Error(`cannot run:\n- ${problems.join('\n- ')}`);
  if (!existsSync(path.join(ROOT, 'dist', 'fota-agent.mjs'))) throw new Error('dist/ is missing: run `npm run build` (npm run bench:peers builds first)');
  const maxMib = Math.max(...SIZES);
  checkFreeSpace(BASE_DIR, (2 * SIZES.reduce((a, b) => a + b, 0) + 2 * maxMib + 1024) * MiB);
  const work = mkdtempSync(path.join(BASE_DIR, 'fota-peers-bench-'));
  let slots;
  let link;
  const pace = {};
  const cleanup = async () => {
    pace.net?.release();
    await link?.close().catch(() => undefined);
    await stopAll();
    pace.slots?.release();
    slots?.detach();
    removeSystemFiles();
    if (process.env.KEEP === '1') log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.once(sig, () => void cleanup().finally(() => process.exit(130)));
  try {
    const slotBytes = (maxMib + 64) * MiB;
    slots = makeSlots(work, slotBytes);
    let tools = TOOLS;
    if (SCHEME === 'https' && tools.some((t) => t === 'mender' || t === 'swupdate')) {
      log('SCHEME=https: Mender and SWUpdate are left out (this harness does not give them the throwaway CA)');
      tools = tools.filter((t) => t !== 'mender' && t !== 'swupdate');
    }
    if (slots.kind === 'file' && tools.includes('mender')) {
      log('no loop devices: Mender 3.4 refuses a regular file as its slot; it is left out');
      tools = tools.filter((t) => t !== 'mender');
    }
    const env = makeEnv(work);
    const mender = tools.includes('mender') ? setupMender(work, slots) : undefined;
    const www = path.join(work, 'www');
    const images = new Map();
    for (const mib of SIZES) {
      const t0 = performance.now();
      images.set(mib, makeImages({ www, keys: path.join(work, 'keys'), mib, tools, slotB: slots.b, fotaBin: path.join(ROOT, 'bin', 'fota.js') }));
      log(`images for ${mib} MiB made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    const broker = await startMosquitto(work);
    const tls = SCHEME === 'https' ? await makeServerCert(path.join(work, 'tls')) : undefined;
    const origin = await startFileServer(www, work, tls);
    // the fota agent on its real uboot platform: the same slots and environment (through fw_setenv) as the peers
    const fotaDir = path.join(work, 'fota');
    mkdirSync(fotaDir);
    writeFileSync(path.join(fotaDir, 'cmdline'), `fota.slot=A root=${slots.a}\n`);
    writeFileSync(path.join(fotaDir, 'firmware-version'), '1.0.0\n');
    const agentConfig = path.join(fotaDir, 'agent.json');
    const pub = images.get(SIZES[0]).pub;
    writeFileSync(agentConfig, JSON.stringify({
      deviceId: 'peers-bench', broker: { url: broker },
      platform: { name: 'uboot', options: { slots: { A: slots.a, B: slots.b }, env: 'fw-tools', envConfig: '/etc/fw_env.config', firmwareVersionFile: path.join(fotaDir, 'firmware-version'), rebootCommand: ['/bin/true'], bootedSlot: { source: 'cmdline', path: path.join(fotaDir, 'cmdline') } } },
      stateDir: path.join(fotaDir, 'state'), trustedKeys: [pub], device: { deviceType: 'fwbench' },
      ...(tls ? { download: { caFile: tls.ca } } : {}),
    }, null, 2));
    execFileSync(process.execPath, [path.join(ROOT, 'bin', 'fota-agent.js'), '--config', agentConfig, '--check'], { stdio: 'inherit' });
    link = await DeviceLink.open({ repoRoot: ROOT, workDir: work, broker, id: 'peers-bench' });
    const unit = unitRuntime();
    const flagsOf = (tool) => (tool === 'fota-jit' ? unit.flags.filter((f) => f !== '--jitless' && f !== '--no-expose-wasm') : tool === 'fota-b' ? [...unit.flags, ...B_FLAGS] : unit.flags);
    const header = [
      `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, Node ${process.version}; slots: ${slots.kind}`,
      `Versions: ${['mender-client', 'swupdate', 'curl', 'openssl'].map((p) => { try { return `${p} ${execFileSync('dpkg-query', ['-W', '-f=${Version}', p], { encoding: 'utf8' })}`; } catch { return `${p} ?`; } }).join(', ')}`,
      `Run: ${new Date().toISOString()}, SIZES_MIB="${SIZES.join(' ')}" ROUNDS=${ROUNDS} WARMUP=${WARMUP} TOOLS="${tools.join(' ')}" SCHEME=${SCHEME}, load1 at start ${load1()}`,
      `fota: ${unit.flags.join(' ')} ${Object.entries(unit.env).map(([k, v]) => `${k}=${v}`).join(' ')} (systemd/fota-agent.service); fota-jit: ${flagsOf('fota-jit').join(' ')}`,
      ...(tools.includes('fota-b') ? [`fota-b: ${B_BIN} ${flagsOf('fota-b').join(' ')}`] : []),
    ];
    /** untimed: nothing pending, slot B empty, no tool state, the served file in the page cache, nothing dirty */
    const prepare = (tool, img) => {
      env.reset();
      mender?.reset();
      rmSync(path.join(fotaDir, 'state'), { recursive: true, force: true });
      for (const f of ['/tmp/swupdateprog', '/tmp/sockinstctrl']) rmSync(f, { force: true });
      resetSlotB(slots, slotBytes);
      warmPageCache(tool === 'mender' ? img.mender : tool === 'swupdate' ? img.swu : tool.startsWith('fota') ? img.fota : img.bin);
      execFileSync('sync');
    };
    const runOne = async (tool, mib, round) => {
      const img = images.get(mib);
      const logFile = path.join(work, `${tool}.log`);
      if (tool === 'pipeline') {
        let sampler;
        const r = await runPipeline({ url: `${origin}/${path.basename(img.bin)}`, slot: slots.b, workDir: work, caFile: tls?.ca, onSpawn: (c) => (sampler = sampleTree(c.pid, { self: false })) });
        const mem = sampler.stop();
        return { ok: r.sha256 === img.sha256, note: r.sha256 === img.sha256 ? '' : 'digest mismatch', wall_s: r.wallS, cpu_s: r.userS + r.sysS, rss: mem.rss, pss: mem.pss, private: mem.private };
      }
      if (tool === 'mender') {
        return runTimed(['mender', '--no-syslog', '-c', mender.conf, '-b', mender.fallback, '-d', mender.data, 'install', `${origin}/${path.basename(img.mender)}`], { env: { PATH: `${mender.fakebin}:${process.env.PATH}` }, workDir: work, logFile });
      }
      if (tool === 'swupdate') {
        return runTimed(['swupdate', '-B', 'uboot', '-H', 'fwbench:1.0', '-k', img.cert, '-d', `-u ${origin}/${path.basename(img.swu)}`], { workDir: work, logFile });
      }
      return runFotaAgent({ node: process.execPath, flags: flagsOf(tool), env: unit.env, agentBin: tool === 'fota-b' ? B_BIN : path.join(ROOT, 'bin', 'fota-agent.js'), config: agentConfig, link, url: `${origin}/${path.basename(img.fota)}`, logFile: path.join(work, `${tool}-r${round}.log`) });
    };
    const paceProblemsFound = paceProblems({ netMBps: NET_MBPS, readMBps: SLOT_READ_MBPS, slotsAreDevices: slots.kind !== 'file' });
    if (paceProblemsFound.length) throw new Error(`cannot set the device's pace:\n- ${paceProblemsFound.join('\n- ')}`);
    if (SLOT_READ_MBPS !== undefined) pace.slots = holdSlotReads([slots.a, slots.b], SLOT_READ_MBPS);
    if (NET_MBPS !== undefined) pace.net = holdNetwork(NET_MBPS);
    if (pace.slots || pace.net) header.push(`Device pace: ${[pace.net ? `loopback network ${NET_MBPS} MB/s (tc tbf on lo)` : '', pace.slots ? `slot reads ${SLOT_READ_MBPS} MB/s (cgroup)` : ''].filter(Boolean).join(', ')}`);
    const rows = [];
    for (let round = 1 - WARMUP; round <= ROUNDS; round++) {
      for (const mib of SIZES) {
        for (let i = 0; i < tools.length; i++) {
          const tool = tools[(i + round + WARMUP - 1) % tools.length];
          const img = images.get(mib);
          prepare(tool, img);
          const l1 = load1();
          let r;
          try {
            r = await runOne(tool, mib, round);
          } catch (e) {
            r = { ok: false, note: e.message, wall_s: NaN, cpu_s: NaN };
          }
          // what the tool left in the page cache, written out (before slotSha, whose O_DIRECT read would write it)
          const s0 = performance.now();
          execFileSync('sync');
          r.sync_s = (performance.now() - s0) / 1000;
          const dataOk = slotSha(slots.b, mib) === img.sha256;
          const envText = env.print();
          const ok = r.ok && dataOk && envOk(tool, envText);
          const note = [r.note, dataOk ? '' : 'slot B does not hold the image', envOk(tool, envText) ? '' : `env: ${envText.replace(/\n/g, ' ').slice(0, 200)}`].filter(Boolean).join('; ');
          const row = { round, warmup: round < 1 ? 1 : 0, size_mib: mib, tool, position: i, ...r, ok, note, load1: l1 };
          rows.push(row);
          log(`round ${round}${round < 1 ? ' (warm-up)' : ''} ${mib} MiB ${tool}: ${ok ? '' : `FAILED (${note}) `}${r.wall_s?.toFixed(2)} s (+ sync ${r.sync_s.toFixed(2)} s), CPU ${r.cpu_s?.toFixed(2)} s, RSS ${(r.rss / 1024).toFixed(1)} / private ${(r.private / 1024).toFixed(1)} MiB, load ${l1}`);
        }
      }
    }
    const profiles = [];
    for (const mib of PERF ? SIZES : []) {
      const img = images.get(mib);
      prepare('fota', img);
      const perfOut = path.join(work, `fota-${mib}.perf`);
      await runFotaAgent({ node: process.execPath, flags: flagsOf('fota'), env: unit.env, agentBin: path.join(ROOT, 'bin', 'fota-agent.js'), config: agentConfig, link, url: `${origin}/${path.basename(img.fota)}`, logFile: path.join(work, 'fota-perf.log'), perfOut });
      profiles.push('', ...perfMarkdown(`**CPU profile of one more fota run, ${mib} MiB** (perf record -e cpu-clock -F 999 -g, not counted above)`, summarizePerf(perfOut)));
      log(`profiled a ${mib} MiB fota run`);
    }
    const md = [peersMarkdown({ rows, sizes: SIZES, tools, header }), ...profiles].join('\n');
    const dir = path.join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const base = path.join(dir, `peers-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-')}`);
    writeFileSync(`${base}.csv`, toCsv(rows, PEER_COLUMNS));
    writeFileSync(`${base}.md`, `${md}\n`);
    process.stdout.write(`${md}\n\nRaw rows: ${path.relative(ROOT, base)}.csv\n`);
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`peers-bench: ${e.message}`);
    process.exit(1);
  },
);
