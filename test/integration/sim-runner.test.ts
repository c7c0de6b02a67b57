// runSimulatedDevice with a tiny fake agent (a node -e script that records its start, argv, env and boot, and
// behaves as told by AGENT_MODE): reboot loops, broken-image fallback after bootlimit, Restart=always, exit 78,
// a bricked device, and power-off cleanup (SIGTERM, then SIGKILL) with no process left behind.
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SimBootRecord } from '../../platform/simulator/bootloader.js';
import { ensureSimDevice, simBootEnv, simPaths } from '../../platform/simulator/device-dir.js';
import { makeSimImage } from '../../platform/simulator/image-header.js';
import { runSimulatedDevice, type SimRunOptions, type SimRunResult } from '../../platform/simulator/sim-runner.js';

const FAKE_AGENT = `
const fs = require('fs');
const path = require('path');
const dir = process.env.SIM_DIR;
const mode = process.env.AGENT_MODE;
const log = (o) => fs.appendFileSync(path.join(dir, 'agent-log.jsonl'), JSON.stringify(o) + '\\n');
const boot = JSON.parse(fs.readFileSync(path.join(dir, 'run', 'boot.json'), 'utf8'));
const once = (name) => { const f = path.join(dir, name); if (fs.existsSync(f)) return false; fs.writeFileSync(f, ''); return true; };
// the handler goes in before the start is logged: the test powers off as soon as it sees the start
process.on('SIGTERM', () => {
  if (mode === 'ignore-term') return log({ event: 'ignored-term' });
  log({ event: 'sigterm' });
  process.exit(0);
});
log({ event: 'start', pid: process.pid, argv: process.argv.slice(1), tag: process.env.TAG, boot });
console.log('agent up on slot ' + boot.slot);
if (mode === 'reboot-once' && once('rebooted')) { log({ event: 'reboot' }); process.exit(3); }
if (mode === 'crash-once' && once('crashed')) { log({ event: 'crash' }); process.exit(1); }
if (mode === 'bad-config') process.exit(78);
setInterval(() => {}, 1000);
`;

interface AgentEvent {
  event: string;
  pid?: number;
  argv?: string[];
  tag?: string;
  boot?: SimBootRecord;
}

async function events(dir: string): Promise<AgentEvent[]> {
  const text = await readFile(join(dir, 'agent-log.jsonl'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AgentEvent);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const starts = async (dir: string, n: number) => waitFor(`${n} agent start(s)`, async () => ((await events(dir)).filter((e) => e.event === 'start').length >= n ? (await events(dir)).filter((e) => e.event === 'start') : undefined));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Copies an image into a slot file without truncating it (as a flash write would). */
async function flash(slotFile: string, version: string, broken: boolean, dir: string): Promise<void> {
  const tmp = join(dir, `img-${version}`);
  await makeSimImage({ version, size: 64 * 1024, broken, out: tmp });
  const data = await readFile(tmp);
  const fh = await open(slotFile, 'r+');
  await fh.write(data, 0, data.length, 0);
  await fh.close();
}

describe('runSimulatedDevice', () => {
  let dir: string;
  let power: AbortController;
  let running: Promise<SimRunResult> | undefined;
  let lines: string[];
  let output: { line: string; stream: string }[];

  const start = (mode: string, extra: Partial<SimRunOptions> = {}) => {
    running = runSimulatedDevice({
      dir,
      agentArgv: [process.execPath, '-e', FAKE_AGENT, 'fake-agent', '--config', join(dir, 'agent.json')],
      env: { SIM_DIR: dir, AGENT_MODE: mode, TAG: 'from-runner' },
      log: (l) => lines.push(l),
      agentOutput: (line, stream) => output.push({ line, stream }),
      signal: power.signal,
      brokenBootDelayMs: 20,
      restartDelayMs: 20,
      ...extra,
    });
    return running;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fota-simrun-'));
    await ensureSimDevice({ dir, id: 'runner-test', imageSize: 64 * 1024, slotCapacity: 1024 * 1024 });
    power = new AbortController();
    running = undefined;
    lines = [];
    output = [];
  });

  afterEach(async () => {
    power.abort();
    await running?.catch(() => undefined);
    for (const e of await events(dir)) if (e.pid && alive(e.pid)) process.kill(e.pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('boots, runs the agent with its argv and env, reboots on exit code 3, and powers off cleanly', async () => {
    start('reboot-once');
    const [first, second] = await starts(dir, 2);
    expect(first!.argv).toEqual(['fake-agent', '--config', join(dir, 'agent.json')]);
    expect(first!.tag).toBe('from-runner');
    expect(first!.boot).toMatchObject({ seq: 1, slot: 'A', trial: false, version: '1.0.0' });
    expect(second!.boot).toMatchObject({ seq: 2, slot: 'A', version: '1.0.0' });
    power.abort();
    const result = await running!;
    expect(result).toMatchObject({ reason: 'stopped', boots: 2, agentStarts: 2 });
    expect((await events(dir)).map((e) => e.event)).toEqual(['start', 'reboot', 'start', 'sigterm']);
    for (const e of await events(dir)) if (e.pid) expect(alive(e.pid)).toBe(false);
    expect(lines.filter((l) => l.startsWith('boot: '))).toEqual(['boot: slot A, firmware 1.0.0', 'boot: slot A, firmware 1.0.0']);
    expect(lines).toContain('agent requested a reboot');
    expect(output).toContainEqual({ line: 'agent up on slot A', stream: 'stdout' });
  });

  it('a broken image never reaches the agent; after bootlimit trial boots the device falls back', async () => {
    await flash(simPaths(dir).slots.B, '2.0.0', true, dir);
    await simBootEnv(dir).write({ boot_part: 'B', upgrade_available: '1', bootcount: '0' }); // what activation writes
    start('wait');
    const [first] = await starts(dir, 1);
    expect(first!.boot).toMatchObject({ seq: 4, slot: 'A', trial: false, fellBack: true, version: '1.0.0' });
    expect(lines.filter((l) => l.startsWith('boot: '))).toEqual([
      'boot: slot B (trial 1/3), firmware 2.0.0 — firmware 2.0.0 is a broken image: the kernel never reaches the agent',
      'boot: slot B (trial 2/3), firmware 2.0.0 — firmware 2.0.0 is a broken image: the kernel never reaches the agent',
      'boot: slot B (trial 3/3), firmware 2.0.0 — firmware 2.0.0 is a broken image: the kernel never reaches the agent',
      'boot: slot A (fell back: the other slot used up its 3 trial boots), firmware 1.0.0',
    ]);
    expect(await simBootEnv(dir).read()).toMatchObject({ boot_part: 'A', upgrade_available: '0', bootcount: '0' });
    power.abort();
    expect(await running!).toMatchObject({ reason: 'stopped', boots: 4, agentStarts: 1 });
  });

  it('restarts a crashed agent without a new boot (Restart=always)', async () => {
    start('crash-once');
    const [first, second] = await starts(dir, 2);
    expect(second!.boot!.seq).toBe(first!.boot!.seq);
    expect(lines.some((l) => l.includes('agent exited (code 1)') && l.includes('Restart=always'))).toBe(true);
    power.abort();
    expect(await running!).toMatchObject({ reason: 'stopped', boots: 1, agentStarts: 2 });
  });

  it('kills an agent that ignores SIGTERM after the stop timeout; nothing is left behind', async () => {
    start('ignore-term', { stopTimeoutMs: 300 });
    const [first] = await starts(dir, 1);
    power.abort();
    expect(await running!).toMatchObject({ reason: 'stopped' });
    expect(alive(first!.pid!)).toBe(false);
    expect((await events(dir)).map((e) => e.event)).toContain('ignored-term');
    expect(lines.some((l) => l.includes('SIGKILL'))).toBe(true);
  });

  it('stops on exit 78 (bad configuration) instead of restarting', async () => {
    expect(await start('bad-config')).toMatchObject({ reason: 'agent-config-error', boots: 1, agentStarts: 1 });
  });

  it('gives up after repeated agent failures (start limit)', async () => {
    const result = await start('bad-start', { agentArgv: [process.execPath, '-e', 'process.exit(1)'], startLimitBurst: 3 });
    expect(result).toMatchObject({ reason: 'agent-failed', boots: 1, agentStarts: 3 });
  });

  it('reports a bricked device when the committed slot never boots', async () => {
    await flash(simPaths(dir).slots.A, '1.0.0', true, dir);
    const result = await start('wait', { maxBrokenBoots: 3 });
    expect(result).toMatchObject({ reason: 'bricked', boots: 3, agentStarts: 0 });
  });

  it('returns at once when powered off before the first boot', async () => {
    power.abort();
    expect(await start('wait')).toMatchObject({ reason: 'stopped', boots: 0, agentStarts: 0 });
  });
});
