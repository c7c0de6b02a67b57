// The agent's systemd side against a real sd_notify endpoint (test/helpers/notify-socket.ts) and the real
// systemd-notify binary: READY=1 after start, watchdog pings from a healthy event loop only, STOPPING=1 on SIGTERM,
// and the agent as a process doing all of it. What systemd itself does with the messages (restart on a missed
// ping, Type=notify start-up) is proven on the virtual board (test/hil/), which runs the unit under real systemd.
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { underJournal } from '../../agent/adapters/json-logger.js';
import { LoopWatchdog } from '../../agent/adapters/loop-watchdog.js';
import { systemdNotifierFromEnv } from '../../agent/adapters/systemd-notify.js';
import { bootOnce } from '../../platform/simulator/bootloader.js';
import { ensureSimDevice } from '../../platform/simulator/device-dir.js';
import { memoryLogger } from '../helpers/fakes.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { monotonicMs, startNotifySocket, type NotifySocket } from '../helpers/notify-socket.js';
import { requireBuild, ROOT } from '../helpers/sim-device.js';

let sock: NotifySocket;
afterEach(async () => sock?.stop());

describe('systemd-notify from the agent', () => {
  it('delivers the fields to the service manager and resolves once it has read them', async () => {
    sock = await startNotifySocket();
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: sock.path, PATH: process.env.PATH };
    const n = systemdNotifierFromEnv(env, { logger: memoryLogger(), pid: process.pid });
    expect(n.enabled).toBe(true);
    expect(await n.notify({ READY: '1', STATUS: 'running: idle\nsecond line' })).toBe(true);
    // resolved means PID 1 read it (systemd-notify's barrier): the message is already there, no waiting
    const m = sock.messages.find((x) => x.fields.READY === '1');
    expect(m?.fields).toMatchObject({ READY: '1', STATUS: 'running: idle second line', MAINPID: String(process.pid) });
    // as root (CAP_SYS_ADMIN) systemd-notify sends under our pid; the unit drops every capability, so there it
    // falls back to its own pid and the barrier keeps it alive until read (NotifyAccess=all accepts either)
    expect(m?.pid).toBe(process.pid);
  });

  it('takes $NOTIFY_SOCKET and $WATCHDOG_* out of the environment, so children cannot speak for the unit', () => {
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: String(process.pid), KEEP: '1' };
    const n = systemdNotifierFromEnv(env, { logger: memoryLogger(), pid: process.pid });
    expect(n.watchdogMs).toBe(30_000);
    expect(env).toEqual({ KEEP: '1' });
    // WATCHDOG_PID naming another process: the pings are not ours to send
    expect(systemdNotifierFromEnv({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1' }, { logger: memoryLogger(), pid: process.pid }).watchdogMs).toBeUndefined();
    const off = systemdNotifierFromEnv({ WATCHDOG_USEC: '30000000' }, { logger: memoryLogger(), pid: process.pid });
    expect([off.enabled, off.watchdogMs]).toEqual([false, undefined]);
  });

  it('says once, not at every ping, that systemd-notify is missing', async () => {
    const logger = memoryLogger();
    const n = systemdNotifierFromEnv({ NOTIFY_SOCKET: '/run/x', PATH: '/nonexistent' }, { logger, pid: process.pid });
    expect(await n.notify({ WATCHDOG: '1' })).toBe(false);
    expect(await n.notify({ WATCHDOG: '1' })).toBe(false);
    expect(logger.lines.filter((l) => l.level === 'error')).toEqual([expect.objectContaining({ msg: 'could not notify systemd', error: expect.stringContaining('systemd-notify not found') })]);
  });

  it('stops pinging while the event loop is blocked and pings again once it keeps up', async () => {
    sock = await startNotifySocket();
    const n = systemdNotifierFromEnv({ NOTIFY_SOCKET: sock.path, PATH: process.env.PATH }, { logger: memoryLogger(), pid: process.pid });
    const lags: number[] = [];
    const wd = new LoopWatchdog({ intervalMs: 300, maxLagMs: 300, ping: () => n.notify({ WATCHDOG: '1' }), lagging: (ms) => lags.push(ms) });
    wd.start();
    try {
      await sock.next((m) => m.fields.WATCHDOG === '1');
      await new Promise((r) => setTimeout(r, 700));
      // a loop stuck in synchronous work for 1.5 s: no timer runs, and the late tick after it must not ping
      const blocked = monotonicMs();
      while (monotonicMs() < blocked + 1500);
      const unblocked = monotonicMs();
      await new Promise((r) => setTimeout(r, 150));
      expect(Math.max(...lags)).toBeGreaterThan(1000);
      // a ping spawned just before the block may still land in its first moments; none after that
      const pings = () => sock.messages.filter((m) => m.fields.WATCHDOG === '1');
      expect(pings().filter((m) => m.at > blocked + 200 && m.at < unblocked + 100)).toEqual([]);
      const again = await sock.next((m) => m.fields.WATCHDOG === '1' && m.at > unblocked, 5000);
      expect(again.at - unblocked).toBeLessThan(2000);
    } finally {
      wd.stop();
    }
  });
});

describe('the agent process under a service manager', () => {
  let broker: Broker;
  let dir: string;
  beforeAll(async () => {
    requireBuild();
    broker = await startMosquitto();
    dir = await mkdtemp(join(tmpdir(), 'fota-sd-agent-'));
    await ensureSimDevice({ dir: join(dir, 'dev'), id: 'sd1', imageSize: 64 * 1024, slotCapacity: 1024 * 1024 });
    await bootOnce(join(dir, 'dev'));
  });
  afterAll(async () => {
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const agent = async (config: object, env: Record<string, string>) => {
    const file = join(dir, 'agent.json');
    await writeFile(file, JSON.stringify(config));
    const child = spawn(process.execPath, [join(ROOT, 'bin/fota-agent.js'), '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, ...env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return { child, exited, output: () => out };
  };
  const config = () => ({ deviceId: 'sd1', broker: { url: broker.url }, platform: { name: 'simulator', options: { dir: join(dir, 'dev') } }, stateDir: join(dir, 'state'), allowUnsigned: true });

  it('is READY once started, pings the watchdog, and says STOPPING on SIGTERM', async () => {
    sock = await startNotifySocket();
    const a = await agent(config(), { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '2000000' });
    try {
      const ready = await sock.next((m) => m.fields.READY === '1');
      expect(ready.fields.STATUS).toMatch(/^running: idle, device sd1, broker 127\.0\.0\.1:\d+$/);
      // pings every WatchdogSec/4 = 500 ms
      const i = sock.messages.indexOf(ready);
      await sock.next((m) => m.fields.WATCHDOG === '1', 3000, i + 1);
      const n = sock.messages.length;
      await sock.next((m) => m.fields.WATCHDOG === '1', 3000, n);
      // a stopped process (SIGSTOP: what the hardware-watchdog scenario of the virtual board does) sends nothing
      a.child.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 600));
      const frozen = sock.messages.length;
      await new Promise((r) => setTimeout(r, 1500));
      expect(sock.messages.length).toBe(frozen);
      a.child.kill('SIGCONT');
      a.child.kill('SIGTERM');
      const stopping = await sock.next((m) => m.fields.STOPPING === '1');
      expect(await a.exited).toBe(0);
      // nothing after STOPPING=1: no ping from a stopping agent
      expect(sock.messages.slice(sock.messages.indexOf(stopping) + 1)).toEqual([]);
      // journald-friendly: without $JOURNAL_STREAM the lines are plain JSON
      expect(a.output().split('\n')[0]).toMatch(/^\{"time":/);
    } finally {
      a.child.kill('SIGKILL');
    }
  });

  it('exits 78 on a bad configuration without ever saying READY (RestartPreventExitStatus=78)', async () => {
    sock = await startNotifySocket();
    const a = await agent({ ...config(), platform: { name: 'no-such-board' } }, { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '2000000' });
    expect(await a.exited).toBe(78);
    expect(a.output()).toContain('no-such-board');
    expect(sock.messages.filter((m) => m.fields.READY)).toEqual([]);
  });

  it('prefixes each line with its syslog priority when stdout is the journal stream ($JOURNAL_STREAM)', async () => {
    const log = join(dir, 'journal.log');
    const fd = openSync(log, 'w');
    const st = fstatSync(fd);
    const file = join(dir, 'agent.json');
    await writeFile(file, JSON.stringify(config()));
    const child = spawn(process.execPath, [join(ROOT, 'bin/fota-agent.js'), '--config', file], { stdio: ['ignore', fd, fd], env: { PATH: process.env.PATH, JOURNAL_STREAM: `${st.dev}:${st.ino}` } });
    closeSync(fd);
    const exited = new Promise((r) => child.once('exit', r));
    try {
      const end = Date.now() + 10_000;
      while (!readFileSync(log, 'utf8').includes('"registered"') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThan(2);
    for (const l of lines) expect(l).toMatch(/^<[346]>\{"time":/);
    expect(lines.find((l) => l.includes('"registered"'))).toMatch(/^<6>/);
    // before the logger exists: a configuration error on stderr is an error too (<3>)
    const bad = join(dir, 'journal-bad.log');
    const bfd = openSync(bad, 'w');
    const bst = fstatSync(bfd);
    await writeFile(file, JSON.stringify({ ...config(), platform: { name: 'no-such-board' } }));
    const badChild = spawn(process.execPath, [join(ROOT, 'bin/fota-agent.js'), '--config', file], { stdio: ['ignore', bfd, bfd], env: { PATH: process.env.PATH, JOURNAL_STREAM: `${bst.dev}:${bst.ino}` } });
    closeSync(bfd);
    expect(await new Promise((r) => badChild.once('exit', r))).toBe(78);
    expect(readFileSync(bad, 'utf8')).toMatch(/^<3>fota-agent: configuration error in .*no-such-board/);
    // another stream (the agent's stdout redirected elsewhere by an operator): plain JSON again
    expect(underJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1}` }, 1)).toBe(false);
  });
});
