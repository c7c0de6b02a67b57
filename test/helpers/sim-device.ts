// Whole simulated devices for system tests: `fota sim run` processes (simulated U-Boot + the real agent, from the
// built dist/), packages made with the real CLI, and a small state-driven update driver over HubLink.
// Everything started here is stopped by `stop()`; tests call it in teardown.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { HubLink } from '../../hub/hub-link.js';
import type { JsonValue } from '../../protocol/messages.js';

const run = promisify(execFile);
export const ROOT = new URL('../../', import.meta.url).pathname;
export const FOTA = join(ROOT, 'bin/fota.js');

export function requireBuild(): void {
  if (!existsSync(join(ROOT, 'dist/fota.mjs')) || !existsSync(join(ROOT, 'dist/fota-agent.mjs'))) {
    throw new Error('dist/ is missing: system tests run the built executables; run `npm run build` (npm test does)');
  }
}

/** Runs `fota …` to completion; rejects with its stderr on a non-zero exit. */
export async function fota(args: string[], env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await run(process.execPath, [FOTA, ...args], { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

export interface Workspace {
  dir: string;
  key: string;
  pub: string;
  cleanup(): Promise<void>;
}

export async function workspace(): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), 'fota-sys-'));
  await fota(['keygen', '-o', join(dir, 'release')]);
  return { dir, key: join(dir, 'release.key'), pub: join(dir, 'release.pub'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Makes a simulated image and a signed package of it; returns the package path. */
export async function makePackage(ws: Workspace, version: string, opts: { size?: string; broken?: boolean; deviceType?: string; securityFloor?: string; key?: string } = {}): Promise<string> {
  const tag = `${opts.broken ? '-broken' : ''}${opts.key ? `-${opts.key.replace(/^.*\//, '').replace(/\W/g, '')}` : ''}`;
  const img = join(ws.dir, `fw-${version}${tag}.img`);
  const pkg = img.replace(/\.img$/, '.fota');
  await fota(['sim', 'image', '--version', version, '--size', opts.size ?? '4M', ...(opts.broken ? ['--broken'] : []), '-o', img]);
  const floor = opts.securityFloor ? ['--security-floor', opts.securityFloor] : [];
  await fota(['pack', '--image', img, '--version', version, '--device-type', opts.deviceType ?? 'fota-sim', '--key', opts.key ?? ws.key, ...floor, '-o', pkg]);
  return pkg;
}

export interface SimDevice {
  id: string;
  dir: string;
  /** the `fota sim run` process (the agent is its child) */
  pid: number;
  output(): string;
  /** resolves when the runner process has exited */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts `fota sim run` for a device (created on first use). */
export function startDevice(ws: Workspace, id: string, broker: string, opts: { env?: Record<string, string>; agentSet?: string[]; wrap?: string[] } = {}): SimDevice {
  const dir = join(ws.dir, id);
  const args = [FOTA, 'sim', 'run', '--dir', dir, '--id', id, '--broker', broker, '--trust', ws.pub, '--image-size', '1M', '--slot-size', '64M'];
  for (const kv of opts.agentSet ?? []) args.push('--agent-set', kv);
  // wrap: a command that execs the rest of its argv (e.g. unshare into a mount namespace); it must exec, not fork
  const [cmd, ...pre] = [...(opts.wrap ?? []), process.execPath];
  const child: ChildProcess = spawn(cmd!, [...pre, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    id,
    dir,
    pid: child.pid ?? -1,
    output: () => out,
    exited,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export type Fw = { state: number; result: number; reason: string; code: string; version: string; attempt: string };

/** Reads Object 5 (+ firmware version); undefined while the device is not answering (rebooting). */
export async function readFw(link: HubLink, ep: string): Promise<Fw | undefined> {
  try {
    const r = await link.request(ep, { op: 'read', path: '/5/0' }, 2000);
    const v = await link.request(ep, { op: 'read', path: '/3/0/3' }, 2000);
    if (r.code !== '2.05' || v.code !== '2.05') return undefined;
    const o = r.value as Record<string, JsonValue>;
    return { state: Number(o['3']), result: Number(o['5']), reason: String(o['26242'] ?? ''), code: String(o['26243'] ?? ''), version: String(v.value), attempt: String(o['26244'] ?? '') };
  } catch {
    return undefined;
  }
}

/** Polls `probe` every 200 ms (at once when `wake` fires) until it returns a value. */
export async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined>, wake?: () => Promise<void>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await Promise.race([new Promise((r) => setTimeout(r, 200)), ...(wake ? [wake()] : [])]);
  }
}

/**
 * Registrations of one device as a wake-up: `next()` resolves at its next registration (the agent started after a
 * reboot or a power cut), so a driver asks again at once instead of waiting out a request sent while it was down.
 */
export function registrations(link: HubLink, ep: string): { next(): Promise<void>; close(): void } {
  let waiters: (() => void)[] = [];
  const off = link.on({
    registration: (e) => {
      if (e !== ep) return;
      for (const w of waiters.splice(0)) w();
    },
  });
  return {
    next: () => new Promise<void>((r) => waiters.push(r)),
    close: () => {
      off();
      for (const w of waiters.splice(0)) w();
      waiters = [];
    },
  };
}

/** readFw, given up early when the device registers again (the request went to an agent that was not running). */
async function readFwOrWake(link: HubLink, ep: string, reg: { next(): Promise<void> }): Promise<Fw | undefined> {
  return Promise.race([readFw(link, ep), reg.next().then(() => undefined)]);
}

/**
 * Drives one update by looking at the device's state, so it copes with the device rebooting or losing power at
 * any point (a lost answer included): write the URI while Idle until the device shows a new attempt id, execute
 * Update whenever Downloaded, stop at Idle with a result once the new attempt ended.
 */
export async function driveUpdate(link: HubLink, ep: string, uri: string, ms = 90_000, opts: { allowDowngrade?: boolean } = {}): Promise<Fw> {
  // a downgrade is allowed in the same write as the URI: an instance write of /5/0 (docs/protocol.md)
  const write = opts.allowDowngrade ? { op: 'write' as const, path: '/5/0', value: { '1': uri, '26245': true } } : { op: 'write' as const, path: '/5/0/1', value: uri };
  return drive(link, ep, ms, 'update', (fw, started) => {
    if (fw.state === 0 && started && fw.result !== 0) return 'done';
    if (fw.state === 0 && !started) return write;
    if (fw.state === 2) return { op: 'execute', path: '/5/0/2' };
    return undefined;
  });
}

/** Drives a factory reset the same way: execute Factory Reset while Idle until a new attempt shows, then wait for Idle. */
export async function driveFactoryReset(link: HubLink, ep: string, ms = 90_000): Promise<Fw> {
  return drive(link, ep, ms, 'factory reset', (fw, started) => {
    if (fw.state === 0 && started) return 'done';
    if (fw.state === 0) return { op: 'execute', path: '/3/0/5' };
    return undefined;
  });
}

type Step = 'done' | { op: 'write'; path: string; value: JsonValue } | { op: 'execute'; path: string } | undefined;

async function drive(link: HubLink, ep: string, ms: number, what: string, next: (fw: Fw, started: boolean) => Step): Promise<Fw> {
  const reg = registrations(link, ep);
  try {
    const before = await waitFor(`${ep} to answer`, ms, () => readFwOrWake(link, ep, reg), reg.next);
    return await waitFor(
      `the ${what} of ${ep} to end`,
      ms,
      async () => {
        const fw = await readFwOrWake(link, ep, reg);
        if (!fw) return undefined;
        const step = next(fw, fw.attempt !== before.attempt);
        if (step === 'done') return fw;
        if (step) await Promise.race([link.request(ep, step, 3000).catch(() => undefined), reg.next()]);
        return undefined;
      },
      reg.next,
    );
  } finally {
    reg.close();
  }
}

/** The pid of the device's running agent process (a child of `fota sim run`), undefined between two runs. */
export async function agentPid(d: SimDevice): Promise<number | undefined> {
  const children = await readFile(`/proc/${d.pid}/task/${d.pid}/children`, 'utf8').catch(() => '');
  for (const pid of children.split(/\s+/).filter(Boolean).map(Number)) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('fota-agent')) return pid;
  }
  return undefined;
}

/** Resident set size of a process in KiB (VmRSS), undefined when it is gone. */
export async function rssKiB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) : undefined;
}
