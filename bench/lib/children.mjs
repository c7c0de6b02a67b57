// The benchmark's long-lived helper processes (mosquitto, the HTTP server, the simulated device) and their teardown.
// Every process started here is registered; stopAll() ends each one by pid (SIGTERM, then SIGKILL after a grace
// period) and is safe to call twice, from a signal handler, or after a failure.

import { spawn } from 'node:child_process';
import { openSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { childPids, cmdline } from './proc-stats.mjs';

const registry = new Set();

/**
 * Spawns a registered child (argv array, no shell). `logFile` gets its stdout and stderr; `graceMs` is how long
 * stopAll() waits after SIGTERM before SIGKILL. Resolves nothing: returns { child, exited } at once.
 */
export function startChild(name, cmd, args, { logFile, graceMs = 3000, env } = {}) {
  const out = logFile ? openSync(logFile, 'a') : 'ignore';
  const child = spawn(cmd, args, { stdio: ['ignore', out, out], ...(env ? { env: { ...process.env, ...env } } : {}) });
  child.once('error', (e) => console.error(`[bench] ${name}: ${e.message}`));
  return trackChild(name, child, { graceMs });
}

/**
 * Registers a child started elsewhere so that stopAll() ends it too. With `group` the child must have been spawned
 * with `detached: true` (its own process group, e.g. a shell pipeline): the whole group is signalled, by its id.
 */
export function trackChild(name, child, { graceMs = 3000, group = false } = {}) {
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const entry = { name, child, exited, graceMs, group, extraPids: [] };
  registry.add(entry);
  exited.then(() => registry.delete(entry));
  return entry;
}

function signal(entry, sig) {
  try {
    if (entry.group) process.kill(-entry.child.pid, sig);
    else entry.child.kill(sig);
  } catch {
    // already gone
  }
}

/** Stops every registered child, newest first (the device before the broker it talks to). */
export async function stopAll() {
  const entries = [...registry].reverse();
  for (const e of entries) {
    if (e.child.exitCode === null && e.child.signalCode === null) signal(e, 'SIGTERM');
    const timer = setTimeout(() => signal(e, 'SIGKILL'), e.graceMs);
    await e.exited;
    clearTimeout(timer);
    // a grandchild that outlived its parent (the agent after a SIGKILLed `fota sim run`) is ended by its pid
    // (only while that pid still runs the agent: a pid reused by an unrelated process is left alone)
    for (const pid of e.extraPids) {
      if (!cmdline(pid).some((a) => a.endsWith('fota-agent.js'))) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** A free TCP port on 127.0.0.1 (closed again before returning; good enough on a quiet loopback). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once 127.0.0.1:port accepts connections; throws after `ms`, or at once when `child` exited. */
export async function waitForPort(port, ms = 10_000, what = `port ${port}`, child = undefined) {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (child && child.exitCode !== null) throw new Error(`${what} exited (code ${child.exitCode}) before listening on ${port}`);
    if (Date.now() > end) throw new Error(`${what} did not come up within ${ms / 1000} s`);
    await sleep(50);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts mosquitto on a free loopback port (config written to `dir`); returns its mqtt:// URL. */
export async function startMosquitto(dir) {
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_type error', 'log_dest stderr', ''].join('\n'));
  const e = startChild('mosquitto', 'mosquitto', ['-c', conf], { logFile: path.join(dir, 'mosquitto.log') });
  await Promise.race([waitForPort(port, 10_000, 'mosquitto'), e.exited.then(() => Promise.reject(new Error('mosquitto exited at start (installed? apt-get install mosquitto)')))]);
  return `mqtt://127.0.0.1:${port}`;
}

/** Starts bench/lib/range-server.mjs serving `root`; returns its origin (http://127.0.0.1:PORT). */
export async function startFileServer(root, logDir, tls) {
  const port = await freePort();
  const script = new URL('./range-server.mjs', import.meta.url).pathname;
  startChild('http server', process.execPath, [script, root, String(port), ...(tls ? [tls.key, tls.cert] : [])], { logFile: path.join(logDir, 'http-server.log') });
  await waitForPort(port, 10_000, 'the HTTP server');
  return `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
}

/**
 * Starts `fota sim run` (the real agent as its child; `env` is added to both; each `agentSet` entry becomes an
 * `--agent-set K=V`) and returns { entry, agentPid() }. `agentPid()` finds the
 * agent among the runner's children by its command line; undefined while there is none.
 */
export function startSimDevice({ fotaBin, dir, id, broker, trustKey, slotBytes, logFile, env, agentSet = [] }) {
  const args = [fotaBin, 'sim', 'run', '--dir', dir, '--id', id, '--broker', broker, '--trust', trustKey, '--slot-size', String(slotBytes)];
  for (const kv of agentSet) args.push('--agent-set', kv);
  // 12 s grace: `sim run` gives the agent 10 s to stop after SIGTERM before it SIGKILLs it
  const entry = startChild('sim device', process.execPath, args, { logFile, graceMs: 12_000, env });
  const agentPid = () => {
    const pid = childPids(entry.child.pid).find((p) => cmdline(p).some((a) => a.endsWith('fota-agent.js')));
    if (pid !== undefined && !entry.extraPids.includes(pid)) entry.extraPids.push(pid);
    return pid;
  };
  return { entry, agentPid };
}
