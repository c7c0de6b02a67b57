// `fota-agent status|install|update|cancel|mark-good|mark-bad`: the device-local commands (rauc status, mender
// install). A running agent does the work, told over its control socket (one writer of the slots, ever); when none
// runs, the command takes the state lock and runs the same daemon itself, offline, for as long as the command lasts.

import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { explainArgError } from '../protocol/suggest.js';
import { collectStatus, formatStatus, type AgentStatus } from './agent-status.js';
import { composeAgent, type AgentSecrets, type ComposedAgent } from './compose.js';
import type { AgentConfig } from './config.js';
import { ControlUnavailable, requestControl, serveControl } from './adapters/control-socket.js';
import { agentStateStore, FileStore } from './adapters/file-store.js';
import { OfflineTransport } from './adapters/offline-transport.js';
import { keyIdOf } from './adapters/package-install.js';
import { acquireStateLock, stateLockHolder, StateLockedError } from './adapters/state-lock.js';
import { systemClock } from './adapters/system-clock.js';
import { initialDocument, restoreDocument } from './core/state-document.js';
import type { Logger } from './core/ports.js';
import { localControl, type LocalRequest } from './local-control.js';
import { progressRenderer } from './cli-progress.js';

const EX_USAGE = 64;

interface CommandSpec {
  summary: string;
  args: string;
  options: Record<string, { type: 'boolean' | 'string' }>;
  positionals: number;
  help: string;
}

export const AGENT_COMMANDS: Record<string, CommandSpec> = {
  status: {
    summary: 'booted slot, trial or committed, slot versions, bootloader variables, update state, trusted keys',
    args: '[--json]',
    options: { json: { type: 'boolean' } },
    positionals: 0,
    help: 'Reads a running agent live, or the saved state and the bootloader when none runs. Changes nothing.',
  },
  install: {
    summary: 'install a package from a file or URL through the verified path',
    args: 'FILE|URL [--reboot]',
    options: { reboot: { type: 'boolean' } },
    positionals: 1,
    help: `Streams the package into the inactive slot exactly as an over-the-air update does (signature against the
trusted keys, device type, SHA-256), with a progress bar on a terminal. With --reboot the device then reboots
into it for a trial boot; without, it stays Downloaded and the next step is printed (fota-agent update).
A running agent does the work (the hub sees it as usual); otherwise this command runs it alone, offline.`,
  },
  update: {
    summary: 'boot the downloaded package for a trial (Object 5 Update): the device reboots',
    args: '',
    options: {},
    positionals: 0,
    help: 'After the reboot the agent checks the new firmware\'s health and commits it, or the bootloader falls back.',
  },
  cancel: {
    summary: 'stop a download or drop a downloaded package (Object 5 Cancel)',
    args: '',
    options: {},
    positionals: 0,
    help: 'Back to Idle with Update Result 10 (cancelled). An update that is being installed cannot be cancelled.',
  },
  'mark-good': {
    summary: 'commit the firmware on trial (its health was checked elsewhere)',
    args: '',
    options: {},
    positionals: 0,
    help: 'Only while new firmware runs its trial boot (State Updating). The slot becomes the default.',
  },
  'mark-bad': {
    summary: 'give up the firmware on trial: the device reboots into the previous slot',
    args: '',
    options: {},
    positionals: 0,
    help: 'Only while new firmware runs its trial boot. The hub learns Update Result 8 with the reason "marked bad by hand".',
  },
};

export function isAgentCommand(word: string | undefined): boolean {
  return word !== undefined && Object.hasOwn(AGENT_COMMANDS, word);
}

export function agentCommandsHelp(): string {
  const w = Math.max(...Object.keys(AGENT_COMMANDS).map((n) => n.length));
  return Object.entries(AGENT_COMMANDS)
    .map(([n, c]) => `  ${n.padEnd(w)}  ${c.summary}`)
    .join('\n');
}

function commandUsage(name: string, c: CommandSpec): string {
  return `Usage: fota-agent [--config FILE] ${name} ${c.args}\n\n${c.summary}.\n${c.help}\n\nThe configuration defaults to $FOTA_AGENT_CONFIG or /etc/fota/agent.json.`;
}

/** Parses a command's own arguments; a number is the exit code of a usage answer (help or an error). */
export function parseCommand(argv: string[]): { name: string; values: Record<string, unknown>; positionals: string[] } | number {
  const [name, ...rest] = argv as [string, ...string[]];
  const spec = AGENT_COMMANDS[name]!;
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...spec.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    console.error(`fota-agent ${name}: ${explainArgError(e, [...Object.keys(spec.options), 'help'])}\nsee: fota-agent ${name} --help`);
    return EX_USAGE;
  }
  if (parsed.values.help) {
    console.log(commandUsage(name, spec));
    return 0;
  }
  if (parsed.positionals.length !== spec.positionals) {
    console.error(`fota-agent ${name}: ${parsed.positionals.length < spec.positionals ? 'missing argument' : `unexpected argument "${parsed.positionals[spec.positionals]}"`}\n${commandUsage(name, spec)}`);
    return EX_USAGE;
  }
  return { name, values: parsed.values, positionals: parsed.positionals };
}

export interface CommandContext {
  cfg: AgentConfig;
  secrets: AgentSecrets;
  version: string;
}

/** Warnings and errors of a daemon run by a command, as short lines on stderr (its info lines would drown the output). */
function commandLogger(): Logger {
  const line = (level: string, msg: string, fields?: Record<string, unknown>) => {
    const extra = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
    process.stderr.write(`\r\x1b[Kfota-agent: ${level}: ${msg}${extra}\n`);
  };
  return { info: () => undefined, warn: (m, f) => line('warning', m, f), error: (m, f) => line('error', m, f), transition: () => undefined };
}

async function toUri(arg: string): Promise<string | number> {
  if (/^https?:\/\//i.test(arg)) return arg;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(arg)) {
    console.error(`fota-agent install: ${arg.split(':')[0]}: URLs are not supported; give a file or an http(s):// URL`);
    return EX_USAGE;
  }
  const path = resolve(arg);
  const st = await stat(path).catch((e: NodeJS.ErrnoException) => e);
  if (st instanceof Error) {
    console.error(`fota-agent install: cannot read ${path}: ${st.code ?? st.message}`);
    return 1;
  }
  if (!st.isFile()) {
    console.error(`fota-agent install: ${path} is not a regular file (a package is a .fota file)`);
    return 1;
  }
  return pathToFileURL(path).href;
}

function requestFor(name: string, values: Record<string, unknown>, uri: string | undefined): LocalRequest {
  if (name === 'install') return { op: 'install', uri: uri!, reboot: values.reboot === true };
  if (name === 'mark-good' || name === 'mark-bad') return { op: 'mark', good: name === 'mark-good' };
  return { op: name as 'update' | 'cancel' };
}

export async function runAgentCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const parsed = parseCommand(argv);
  if (typeof parsed === 'number') return parsed;
  const { name, values } = parsed;
  const { cfg } = ctx;
  if (name === 'status') return status(ctx, values.json === true);
  let uri: string | undefined;
  if (name === 'install') {
    const u = await toUri(parsed.positionals[0]!);
    if (typeof u === 'number') return u;
    uri = u;
  }
  const request = requestFor(name, values, uri);
  const render = progressRenderer(name);
  let lock;
  try {
    lock = await acquireStateLock(cfg.stateDir, `fota-agent ${name}`);
  } catch (e) {
    if (!(e instanceof StateLockedError)) throw e;
    // an agent runs: it does the work
    const gone = new AbortController();
    const onInt = () => gone.abort();
    process.once('SIGINT', onInt);
    try {
      await requestControl(cfg.stateDir, request, render.message, gone.signal);
    } catch (u) {
      if (!(u instanceof ControlUnavailable)) throw u;
      console.error(`fota-agent ${name}: ${e.message}, and it cannot be reached: ${u.message}`);
      return 1;
    } finally {
      process.off('SIGINT', onInt);
    }
    if (gone.signal.aborted) console.error(`\nstopped watching; the agent carries on (fota-agent status to look, fota-agent cancel to stop it)`);
    return render.exitCode();
  }
  try {
    return await alone(ctx, name, request, render);
  } finally {
    await lock.release();
  }
}

/** No agent runs: this process runs the daemon offline (no broker), does the one command, and stops it again. */
async function alone(ctx: CommandContext, name: string, request: LocalRequest, render: ReturnType<typeof progressRenderer>): Promise<number> {
  const { cfg, secrets, version } = ctx;
  const store = agentStateStore(cfg.stateDir);
  try {
    await store.load();
  } catch (e) {
    console.error(`fota-agent ${name}: the saved state cannot be read (${(e as Error).message}); start the agent once, it sets it aside`);
    return 1;
  }
  let rebootRequested = false;
  const agent = composeAgent({
    cfg,
    secrets,
    version,
    logger: commandLogger(),
    store,
    transport: new OfflineTransport(),
    // the simulator's "reboot" ends the agent process; alone, the device boots the armed slot at its next power-on
    platformContext: { reboot: async () => void (rebootRequested = true) },
  });
  const stopWork = new AbortController();
  const onInt = () => stopWork.abort();
  process.once('SIGINT', onInt);
  await agent.daemon.start();
  const handler = controlHandler(ctx, agent, { running: true, pid: process.pid, role: `fota-agent ${name}` });
  // others may ask this process for status while it works
  const control = await serveControl(cfg.stateDir, handler).catch(() => undefined);
  try {
    await handler(request, render.message as (m: object) => void, stopWork.signal);
  } finally {
    process.off('SIGINT', onInt);
    await control?.close();
    await agent.daemon.stop();
    // the simulator's reboot hook runs on the next turn of the loop (platform/simulator/simulator-platform.ts)
    await new Promise((r) => setImmediate(r));
  }
  if (stopWork.signal.aborted) console.error('\nstopped; a download resumes from its last checkpoint when the agent starts (fota-agent cancel drops it)');
  if (rebootRequested) console.log('simulated device: it boots the armed slot when it is powered on again (fota sim run)');
  return render.exitCode();
}

/** The control socket's handler for an agent composed by `ctx` (the daemon serves it; agent/main.ts). */
export function controlHandler(ctx: CommandContext, agent: ComposedAgent, who: AgentStatus['agent'] = { running: true, pid: process.pid, role: 'agent' }) {
  return localControl({
    daemon: agent.daemon,
    platform: agent.platform,
    now: () => systemClock.now(),
    newId: () => randomUUID(),
    status: statusBase(ctx, who),
  });
}

function statusBase(ctx: CommandContext, agent: AgentStatus['agent']) {
  return {
    deviceId: ctx.cfg.deviceId,
    agentVersion: ctx.version,
    stateDir: ctx.cfg.stateDir,
    trustedKeyIds: ctx.secrets.trustedKeys.keys.map(keyIdOf),
    allowUnsigned: ctx.cfg.allowUnsigned,
    agent,
  };
}

async function status(ctx: CommandContext, json: boolean): Promise<number> {
  let live: AgentStatus | undefined;
  let unreachable = '';
  try {
    await requestControl(ctx.cfg.stateDir, { op: 'status' }, (m) => {
      if (m.type === 'status') live = m.status as AgentStatus;
    });
  } catch (e) {
    if (!(e instanceof ControlUnavailable)) throw e;
    if (e.reason === 'denied') unreachable = e.message;
  }
  const s = live ?? (await offlineStatus(ctx));
  if (json) console.log(JSON.stringify(s, null, 2));
  else console.log(formatStatus(s));
  if (unreachable) console.error(`fota-agent status: ${unreachable}; showing the saved state`);
  return 0;
}

/** The saved state and the bootloader's view, read without the lock (nothing is written). */
async function offlineStatus(ctx: CommandContext): Promise<AgentStatus> {
  const holder = await stateLockHolder(ctx.cfg.stateDir);
  const agent = composeAgent({ cfg: ctx.cfg, secrets: ctx.secrets, version: ctx.version, logger: commandLogger(), transport: new OfflineTransport() });
  let firmware = initialDocument().firmware;
  try {
    const saved = await new FileStore(ctx.cfg.stateDir).load();
    if (saved !== undefined) firmware = restoreDocument(saved).firmware;
  } catch (e) {
    console.error(`fota-agent status: the saved state cannot be read: ${(e as Error).message}`);
  }
  const who = holder ? { running: true, pid: holder.pid, role: holder.role, since: holder.since } : { running: false };
  return collectStatus({ ...statusBase(ctx, who), platform: agent.platform, firmware });
}
