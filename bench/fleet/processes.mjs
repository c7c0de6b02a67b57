// The fleet benchmark's processes: Mosquitto, the hub (`fota hub`, a separate process so its CPU and memory are
// its own) and the fleet host (forked with an IPC channel). Every process started here is registered; stopAll()
// ends each one by its pid (SIGTERM, SIGKILL after a grace period), newest first, and is safe to call twice.

import { fork, spawn } from 'node:child_process';
import os from 'node:os';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, sleep, waitForPort } from '../lib/children.mjs';

export { sleep };

const registry = new Set();

/** Spawns a registered child (argv, no shell); stdout and stderr go to `logFile`. Returns { child, exited, name }. */
function startChild(name, cmd, args, { logFile, env, graceMs = 5000 } = {}) {
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  closeSync(fd);
  return register(name, child, graceMs);
}

/** Registers a child started elsewhere (e.g. forked) so that stopAll() ends it too. Returns { child, exited, name }. */
export function registerChild(name, child, graceMs) {
  return register(name, child, graceMs);
}

function register(name, child, graceMs) {
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const entry = { name, child, exited, graceMs, pid: child.pid };
  registry.add(entry);
  exited.then(() => registry.delete(entry));
  child.once('error', (e) => process.stderr.write(`[fleet-bench] ${name}: ${e.message}\n`));
  return entry;
}

/** Ends one registered process: SIGTERM, then SIGKILL after its grace period. Resolves when it exited. */
export async function stopProcess(entry) {
  if (entry.child.exitCode !== null || entry.child.signalCode !== null) return entry.exited;
  entry.child.kill('SIGTERM');
  const timer = setTimeout(() => entry.child.kill('SIGKILL'), entry.graceMs);
  const res = await entry.exited;
  clearTimeout(timer);
  return res;
}

/** Stops every process this module started, newest first (the fleet before the hub before the broker). */
export async function stopAll() {
  for (const entry of [...registry].reverse()) await stopProcess(entry);
}

/**
 * Mosquitto on a free loopback port, configured for a fleet on one box. The limits raised from the defaults
 * (docs/benchmarks.md says why): max_queued_messages (default 1000) and max_inflight_messages (default 20).
 */
export async function startMosquitto(dir, { maxQueued, maxInflight }) {
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence false',
    'log_type error',
    'log_type warning',
    // notice: connections, and "Outgoing messages are being dropped for client …" when a client's queue is full
    'log_type notice',
    'log_dest stderr',
    'set_tcp_nodelay true',
    // the hub's fleet subscription receives every device's messages: its queue must hold a burst from all of them
    ...(maxQueued === undefined ? [] : [`max_queued_messages ${maxQueued}`]),
    ...(maxInflight === undefined ? [] : [`max_inflight_messages ${maxInflight}`]),
    '',
  ];
  writeFileSync(conf, lines.join('\n'));
  const entry = startChild('mosquitto', 'mosquitto', ['-c', conf], { logFile: path.join(dir, 'mosquitto.log'), graceMs: 3000 });
  await waitForPort(port, 10_000, entry.name, entry.child);
  return { ...entry, url: `mqtt://127.0.0.1:${port}`, port, config: lines.filter((l) => /^(max_|set_)/.test(l)) };
}

/** `node bin/fota.js hub --broker URL --db PATH --listen 127.0.0.1:PORT`, logging to DIR/hub.log. */
export async function startHubProcess(dir, { fotaBin, brokerUrl, db, nodeOptions }) {
  const port = await freePort();
  const args = [...nodeOptions, fotaBin, 'hub', '--broker', brokerUrl, '--db', db, '--listen', `127.0.0.1:${port}`];
  const entry = startChild('hub', process.execPath, args, { logFile: path.join(dir, 'hub.log'), graceMs: 10_000 });
  await waitForPort(port, 30_000, entry.name, entry.child);
  return { ...entry, url: `http://127.0.0.1:${port}` };
}

/**
 * Forks the bundled fleet host (bench/fleet/fleet-host-main.ts) with an IPC channel; agent logs go to DIR/`logName`.
 * Returns a handle: send(cmd), next(type, timeoutMs) for the next event of that type, status(), and the entry.
 */
export async function forkFleetHost(dir, { bundle, nodeOptions, nice = 0, name = 'fleet host', logName = 'agents.log' }) {
  const logFile = path.join(dir, logName);
  const fd = openSync(logFile, 'a');
  const child = fork(bundle, [], { stdio: ['ignore', fd, fd, 'ipc'], execArgv: nodeOptions });
  closeSync(fd);
  // the simulated devices' CPU (on a fleet each device has its own) yields to the hub, the broker and the sampler
  if (nice) os.setPriority(child.pid, nice);
  const entry = register(name, child, 30_000);
  const waiters = [];
  let failure;
  const fail = (e) => {
    failure = e;
    for (const w of waiters.splice(0)) w.reject(e);
  };
  child.on('message', (m) => {
    if (m.type === 'error') return fail(new Error(`fleet host: ${m.message}`));
    const i = waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
  });
  entry.exited.then(({ code, signal }) => fail(new Error(`${name} exited (${signal ?? `code ${code}`}); see ${logFile}`)));
  const next = (type, timeoutMs) =>
    new Promise((resolve, reject) => {
      if (failure) return reject(failure);
      const w = { type, resolve: (m) => (clearTimeout(t), resolve(m)), reject: (e) => (clearTimeout(t), reject(e)) };
      const t = setTimeout(() => {
        const i = waiters.indexOf(w);
        if (i >= 0) waiters.splice(i, 1);
        reject(new Error(`${name} sent no "${type}" within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      waiters.push(w);
    });
  const send = (cmd) => child.connected && child.send(cmd);
  const hello = await next('hello', 30_000);
  return {
    entry,
    pid: hello.pid,
    send,
    next,
    async status() {
      const reply = next('status', 30_000);
      send({ type: 'status' });
      return reply;
    },
    /** Every device's report (boots, firmware, errors, event times) and the host's unhandled rejections. */
    async reports() {
      const reply = next('report', 60_000);
      send({ type: 'report' });
      return reply;
    },
    /** Undefined while the host runs; else why it ended, with the last non-JSON lines of its log (a crash). */
    died() {
      if (child.exitCode === null && child.signalCode === null) return undefined;
      let tail = '';
      try {
        tail = readFileSync(logFile, 'utf8').split('\n').filter((l) => l && !l.startsWith('{')).slice(0, 6).join(' / ');
      } catch {
        // no log: say what is known
      }
      return `${name} exited (${child.signalCode ?? `code ${child.exitCode}`})${tail ? `: ${tail.slice(0, 800)}` : ''}`;
    },
    /** Asks for a clean stop (every agent disconnects); resolves with its duration in ms, or NaN when it had to be killed. */
    async stop(timeoutMs = 60_000) {
      if (child.exitCode !== null || !child.connected) return NaN;
      const reply = next('stopped', timeoutMs).then((m) => m.ms, () => NaN);
      send({ type: 'stop' });
      const ms = await reply;
      await Promise.race([entry.exited, sleep(5000)]);
      await stopProcess(entry);
      return ms;
    },
  };
}
