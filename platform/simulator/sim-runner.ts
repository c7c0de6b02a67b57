// The simulated device's power loop: boot (bootloader.ts) → start the agent → exit code 3 means "reboot" → boot
// again. A broken image never starts the agent and counts as a failed boot (the boot counter falls back). Other
// agent exits are restarted without a reboot, like systemd Restart=always (exit 78 = bad config is not retried).
// An agent killed by SIGKILL stands for a power cut: the device boots again through the bootloader.
//
// INVARIANTS
// - At most one agent process exists at a time; the runner never returns while it is alive.
// - Abort (signal) while the agent runs: SIGTERM, then SIGKILL after stopTimeoutMs; the runner then returns.

import { spawn } from 'node:child_process';
import { bootOnce, describeBoot } from './bootloader.js';
import { AGENT_ENV } from '../agent-runtime.js';
import { SIM_REBOOT_EXIT_CODE } from './constants.js';

/** systemd RestartPreventExitStatus: the agent's configuration is invalid, restarting cannot help. */
const CONFIG_EXIT_CODE = 78;
/** EX_TEMPFAIL: the agent asks to be started again at once (it applies a new configuration on start). */
const RESTART_EXIT_CODE = 75;

export interface SimRunOptions {
  dir: string;
  /** the agent command, e.g. [process.execPath, 'bin/fota-agent.js', '--config', 'DIR/agent.json'] */
  agentArgv: string[];
  /** extra environment variables for the agent (on top of process.env) */
  env?: Record<string, string>;
  /** runner events, one line each (default: console.log) */
  log?: (line: string) => void;
  /** each line the agent prints (default: written to the matching stream with an "[agent] " prefix) */
  agentOutput?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** power off: stops the agent (SIGTERM) and returns */
  signal?: AbortSignal;
  /** pause after a boot that never reached the agent, in ms (default 300) */
  brokenBootDelayMs?: number;
  /** pause before restarting a crashed agent, in ms (default 1000, systemd RestartSec) */
  restartDelayMs?: number;
  /** SIGKILL the agent when it has not exited this long after SIGTERM, in ms (default 10000) */
  stopTimeoutMs?: number;
  /** give up ("bricked") after this many consecutive broken boots outside a trial (default 10) */
  maxBrokenBoots?: number;
  /** give up after this many agent failures within startLimitIntervalMs (default 5 in 10 s, systemd StartLimitBurst) */
  startLimitBurst?: number;
  startLimitIntervalMs?: number;
}

export interface SimRunResult {
  reason: 'stopped' | 'bricked' | 'agent-config-error' | 'agent-failed';
  /** boots performed */
  boots: number;
  /** agent processes started */
  agentStarts: number;
  message: string;
}

type AgentExit = { kind: 'exited'; code: number | null; signal: NodeJS.Signals | null } | { kind: 'stopped' } | { kind: 'spawn-failed'; error: string };

/** Runs the device until `signal` aborts (or it cannot go on). Never throws for agent failures; see SimRunResult. */
export async function runSimulatedDevice(opts: SimRunOptions): Promise<SimRunResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const signal = opts.signal;
  let boots = 0;
  let agentStarts = 0;
  let brokenInARow = 0;
  const failures: number[] = [];
  const result = (reason: SimRunResult['reason'], message: string): SimRunResult => {
    log(message);
    return { reason, boots, agentStarts, message };
  };
  const stopped = () => result('stopped', `device ${opts.dir} powered off after ${boots} boot(s)`);

  while (!signal?.aborted) {
    const rec = await bootOnce(opts.dir);
    boots++;
    log(describeBoot(rec));
    if (rec.broken) {
      brokenInARow = rec.trial ? 0 : brokenInARow + 1;
      if (brokenInARow >= (opts.maxBrokenBoots ?? 10))
        return result('bricked', `slot ${rec.slot} failed to boot ${brokenInARow} times outside a trial: the device is bricked (no fallback without a trial)`);
      if (!(await sleep(opts.brokenBootDelayMs ?? 300, signal))) break;
      continue;
    }
    brokenInARow = 0;
    for (;;) {
      agentStarts++;
      const exit = await runAgent(opts, log);
      if (exit.kind === 'stopped') return stopped();
      if (exit.kind === 'exited' && exit.code === SIM_REBOOT_EXIT_CODE) {
        log('agent requested a reboot');
        break;
      }
      if (exit.kind === 'exited' && exit.code === RESTART_EXIT_CODE) {
        log('agent restarting (new configuration)');
        continue;
      }
      if (exit.kind === 'exited' && exit.signal === 'SIGKILL') {
        log('agent killed (SIGKILL): simulating a power cut, booting again');
        break;
      }
      if (exit.kind === 'exited' && exit.code === CONFIG_EXIT_CODE) return result('agent-config-error', 'the agent rejected its configuration (exit 78); fix it and start the device again');
      const what = exit.kind === 'spawn-failed' ? `could not start the agent: ${exit.error}` : `agent exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`})`;
      const now = performance.now(); // monotonic, like systemd's start-limit interval
      failures.push(now);
      while (failures.length && failures[0]! < now - (opts.startLimitIntervalMs ?? 10_000)) failures.shift();
      if (failures.length >= (opts.startLimitBurst ?? 5)) return result('agent-failed', `${what}; it failed ${failures.length} times in a row, giving up (systemd start limit)`);
      log(`${what}; restarting it without a reboot (Restart=always)`);
      if (!(await sleep(opts.restartDelayMs ?? 1000, signal))) return stopped();
    }
  }
  return stopped();
}

function runAgent(opts: SimRunOptions, log: (line: string) => void): Promise<AgentExit> {
  const [cmd, ...args] = opts.agentArgv;
  if (cmd === undefined) return Promise.resolve({ kind: 'spawn-failed', error: 'empty agent command' });
  const output = opts.agentOutput ?? ((line, stream) => (stream === 'stdout' ? process.stdout : process.stderr).write(`[agent] ${line}\n`));
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...AGENT_ENV, ...process.env, ...opts.env } });
    let stopping = false;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      stopping = true;
      log(`powering off: SIGTERM to the agent (pid ${child.pid ?? '?'})`);
      child.kill('SIGTERM');
      killTimer = setTimeout(() => {
        log('the agent did not stop in time: SIGKILL');
        child.kill('SIGKILL');
      }, opts.stopTimeoutMs ?? 10_000);
    };
    const done = (exit: AgentExit) => {
      opts.signal?.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      resolve(stopping && exit.kind !== 'spawn-failed' ? { kind: 'stopped' } : exit);
    };
    lines(child.stdout, (l) => output(l, 'stdout'));
    lines(child.stderr, (l) => output(l, 'stderr'));
    child.once('error', (e) => {
      if (child.pid === undefined) done({ kind: 'spawn-failed', error: e.message });
    });
    child.once('exit', (code, sig) => done({ kind: 'exited', code, signal: sig }));
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function lines(stream: NodeJS.ReadableStream, each: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) each(p);
  });
  stream.on('end', () => {
    if (rest) each(rest);
  });
}

/** Resolves true after `ms`, false at once when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
