// One measured run of each tool in the peers benchmark: a command (Mender, SWUpdate) timed with bash's `times`
// (CPU of every reaped child), or a fresh fota agent driven over MQTT from the Package URI write to the U-Boot
// environment write. Memory: peak sums of RSS, PSS and private over the tool's processes, sampled every 50 ms.

import { spawn } from 'node:child_process';
import { appendFileSync, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { trackChild } from './children.mjs';
import { startPerf } from './perf-profile.mjs';
import { CLK_TCK } from './proc-stats.mjs';
import { sampleTree } from './tree-sampler.mjs';

/** "0m1.234s" → 1.234 */
const seconds = (t) => {
  const m = /^(\d+)m([\d.]+)s$/.exec(t);
  return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
};

// the argv after the times file is run as is (no shell text is built from it); `times` then prints the shell's and
// its reaped children's CPU
const TIMED = '"${@:2}"; rc=$?; times > "$1"; exit $rc';

/**
 * Runs `argv` (with `env` added) under bash; resolves { ok, note, wall_s, cpu_s, rss, pss, private } (KiB, tree sums
 * without bash itself) once it exits; `ok` is exit code 0.
 */
export function runTimed(argv, { env, workDir, logFile } = {}) {
  const t = mkdtempSync(path.join(workDir, 'timed-'));
  return new Promise((resolve) => {
    const out = [];
    const t0 = performance.now();
    const child = spawn('bash', ['-c', TIMED, 'timed', path.join(t, 'times'), ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, detached: true });
    trackChild(argv[0], child, { group: true, graceMs: 5000 });
    const sampler = sampleTree(child.pid, { self: false });
    for (const s of [child.stdout, child.stderr]) s.on('data', (d) => out.push(d));
    child.once('exit', (code) => {
      const wall = (performance.now() - t0) / 1000;
      const mem = sampler.stop();
      let cpu = NaN;
      try {
        cpu = readFileSync(path.join(t, 'times'), 'utf8').trim().split('\n').flatMap((l) => l.trim().split(/\s+/).map(seconds)).reduce((a, b) => a + b, 0);
      } catch {
        // bash was killed before `times`
      }
      rmSync(t, { recursive: true, force: true });
      const text = Buffer.concat(out).toString('utf8');
      if (logFile) appendFileSync(logFile, `$ ${argv.join(' ')}\n${text}\n`);
      const last = text.trim().split('\n').slice(-3).join(' / ');
      resolve({ ok: code === 0, note: code === 0 ? '' : `exit ${code}: ${last.slice(0, 300)}`, wall_s: wall, cpu_s: cpu, rss: mem.rss, pss: mem.pss, private: mem.private });
    });
  });
}

/** utime+stime of `pid` and of its reaped children (fw_setenv, …), seconds. */
function cpuWithChildren(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/**
 * A fresh fota agent (`node FLAGS bin/fota-agent.js --config CFG`, env added) per run: waits for its registration
 * (untimed), then times the Package URI write → State Downloaded (download_s) → Update executed → the agent logs
 * "rebooting" after writing the U-Boot environment (wall_s). CPU and memory: the agent process over that span.
 * With `perfOut`, `perf record` samples the agent over that span into that file (perf-profile.mjs).
 */
export async function runFotaAgent({ node, flags, env, agentBin, config, link, url, logFile, perfOut }) {
  const log = createWriteStream(logFile, { flags: 'a' });
  const agent = spawn(node, [...flags, agentBin, '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const entry = trackChild('fota agent', agent, { graceMs: 12_000 });
  agent.stderr.pipe(log);
  // the broker keeps the previous agent's registration (retained): this agent is up once it logs its own
  let registered = false;
  let rebootingAt;
  let buf = '';
  const onLine = new Set();
  agent.stdout.on('data', (d) => {
    const at = performance.now();
    log.write(d);
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      if (!registered && line.includes('"msg":"registered"')) {
        registered = true;
        for (const w of onLine) w();
      }
      if (rebootingAt === undefined && line.includes('"msg":"rebooting"')) {
        rebootingAt = at;
        for (const w of onLine) w();
      }
      buf = buf.slice(i + 1);
    }
  });
  const stop = async () => {
    if (agent.exitCode === null && agent.signalCode === null) agent.kill('SIGTERM');
    await entry.exited;
    log.end();
  };
  let perf;
  try {
    const up = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the agent did not register within 60 s; see ${logFile}`)), 60_000);
      const w = () => registered && (clearTimeout(timer), onLine.delete(w), resolve());
      onLine.add(w);
      entry.exited.then(({ code }) => (clearTimeout(timer), reject(new Error(`the agent exited (${code}) before registering; see ${logFile}`))));
    });
    await up;
    await link.ready(30_000);
    if (link.state !== 0) throw new Error(`the agent is not Idle at start (state ${link.state})`);
    const pid = agent.pid;
    await new Promise((r) => setTimeout(r, 300)); // start-up settles (untimed)
    const sampler = sampleTree(pid);
    const cpu0 = cpuWithChildren(pid);
    let started = false;
    if (perfOut) perf = await startPerf(pid, perfOut);
    const downloaded = link.waitFor((e) => {
      if (e.value?.['3'] === 1) started = true;
      return e.value && (e.value['3'] === 2 || (started && e.value['3'] === 0 && e.value['5'] > 1));
    }, 900_000, 'Downloaded');
    const t0 = performance.now();
    await link.write('/5/0/1', url);
    const { at: tDl } = await downloaded;
    if (link.state !== 2) throw new Error(`download failed: result ${link.result} ${link.reason}`);
    const rebooted = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "rebooting" log line within 60 s; see ${logFile}`)), 60_000);
      const w = () => rebootingAt !== undefined && (clearTimeout(timer), resolve(rebootingAt));
      if (rebootingAt !== undefined) w();
      else onLine.add(w);
    });
    const x = await link.link.request(link.id, { op: 'execute', path: '/5/0/2' }, 10_000);
    if (!String(x.code).startsWith('2')) throw new Error(`execute /5/0/2 answered ${x.code}`);
    const tEnv = await rebooted;
    await perf?.stop();
    const cpu1 = cpuWithChildren(pid);
    const mem = sampler.stop();
    return { ok: true, note: '', wall_s: (tEnv - t0) / 1000, download_s: (tDl - t0) / 1000, cpu_s: cpu1 - cpu0, rss: mem.rss, pss: mem.pss, private: mem.private };
  } finally {
    await perf?.stop();
    await stop();
  }
}
