// `fota sim image` / `fota sim run` / `fota sim status` as real processes: the sim commands are bundled with
// esbuild (as dist/fota.mjs bundles them) and run with a fake agent (FOTA_AGENT_BIN). SIGTERM to the CLI powers
// the device off: the agent gets SIGTERM, the CLI exits 0 and no process is left behind.
import { generateKeyPairSync } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSimImageHeader } from '../../platform/simulator/image-header.js';

const REPO = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..');

const FAKE_AGENT = `
const fs = require('fs');
const cfgPath = process.argv[process.argv.indexOf('--config') + 1];
const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
const log = (o) => fs.appendFileSync(process.env.AGENT_LOG, JSON.stringify(o) + '\\n');
process.on('SIGTERM', () => { log({ event: 'sigterm', pid: process.pid }); process.exit(0); });
log({ event: 'start', pid: process.pid, cfg });
setInterval(() => {}, 1000);
`;

function runCli(cli: string, args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => child.on('close', (code) => res({ code, stdout, stderr })));
  return { child, done };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('fota sim commands (bundled, as processes)', () => {
  let tmp: string;
  let cli: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'fota-simcli-'));
    cli = join(tmp, 'fota-sim.mjs');
    await build({
      stdin: {
        contents: `import { SIM_COMMANDS } from './cli/commands/sim.ts';
import { parseFor, CliError } from './cli/command.ts';
const argv = process.argv.slice(2);
const cmd = SIM_COMMANDS.find((c) => argv.slice(0, 2).join(' ') === c.name);
try { process.exitCode = await cmd.run(parseFor(cmd, argv.slice(2))); }
catch (e) { console.error(e instanceof CliError ? e.message : e); process.exitCode = e instanceof CliError ? e.exitCode : 1; }`,
        resolveDir: REPO,
        loader: 'ts',
        sourcefile: 'sim-entry.ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node18',
      outfile: cli,
      logLevel: 'error',
      external: ['better-sqlite3', 'onoff', 'epoll'],
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    });
    await writeFile(join(tmp, 'fake-agent.cjs'), FAKE_AGENT);
    // a real public key: sim run checks --trust keys before it writes them into the device's configuration
    await writeFile(join(tmp, 'release.pub'), generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
  }, 60_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await rm(tmp, { recursive: true, force: true });
  });

  it('sim image writes an image of the requested size and version', async () => {
    const out = join(tmp, 'fw.img');
    const r = await runCli(cli, ['sim', 'image', '--version', '2.0.0', '--size', '1M', '--broken', '-o', out]).done;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('firmware 2.0.0, 1048576 bytes, broken');
    expect(await readSimImageHeader(out)).toEqual({ version: '2.0.0', size: 1048576, broken: true });
    const bad = await runCli(cli, ['sim', 'image', '--version', '2.0.0', '--size', 'lots', '-o', out]).done;
    expect(bad.code).toBe(2);
  });

  it('sim run creates the device, writes agent.json (mode 0600: it may hold a password), prints the boot, and stops cleanly on SIGTERM', async () => {
    const dir = join(tmp, 'dev1');
    const agentLog = join(tmp, 'agent.jsonl');
    const { child, done } = runCli(cli, ['sim', 'run', '--dir', dir, '--id', 'dev1', '--broker', 'mqtt://127.0.0.1:1999', '--trust', join(tmp, 'release.pub'), '--version', '1.5.0', '--image-size', '64K', '--slot-size', '2M', '--agent-set', 'broker.password="s3cret"'], {
      FOTA_AGENT_BIN: join(tmp, 'fake-agent.cjs'),
      AGENT_LOG: agentLog,
    });
    children.push(child);
    const start = await (async () => {
      for (let i = 0; i < 400; i++) {
        const text = await readFile(agentLog, 'utf8').catch(() => '');
        const line = text.split('\n').find((l) => l.includes('"start"'));
        if (line) return JSON.parse(line) as { pid: number; cfg: Record<string, unknown> };
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('the agent never started');
    })();
    expect((await stat(join(dir, 'agent.json'))).mode & 0o777).toBe(0o600);
    expect(start.cfg).toEqual({
      deviceId: 'dev1',
      broker: { url: 'mqtt://127.0.0.1:1999', password: 's3cret' },
      platform: { name: 'simulator', options: { dir } },
      stateDir: join(dir, 'state'),
      trustedKeys: [join(tmp, 'release.pub')],
      allowUnsigned: false,
      device: { deviceType: 'fota-sim', serial: 'dev1', model: 'fota simulated device', manufacturer: 'fota' },
    });
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('boot: slot A, firmware 1.5.0');
    expect(alive(start.pid)).toBe(false);
    expect(await readFile(agentLog, 'utf8')).toContain('"sigterm"');

    const status = await runCli(cli, ['sim', 'status', '--dir', dir]).done;
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('env: boot_part=A upgrade_available=0 bootcount=0 bootlimit=3');
    expect(status.stdout).toContain('slot A: firmware 1.5.0, 65536 bytes');
    expect(status.stdout).toContain('slot B: no image');
  });

  it('sim run refuses to start without a trusted key or --allow-unsigned', async () => {
    const r = await runCli(cli, ['sim', 'run', '--dir', join(tmp, 'dev2'), '--id', 'dev2'], { FOTA_AGENT_BIN: join(tmp, 'fake-agent.cjs') }).done;
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--trust');
  });
});
