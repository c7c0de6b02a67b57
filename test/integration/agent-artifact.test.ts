// The artifact a board receives (dist/agent/, made by `npm run build` / `npm run build:agent`): one file that runs
// with nothing beside it — no node_modules up the tree, no compiler — plus the unit and a manifest that tell the truth.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootOnce } from '../../platform/simulator/bootloader.js';
import { ensureSimDevice } from '../../platform/simulator/device-dir.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { ROOT } from '../helpers/sim-device.js';

const ART = join(ROOT, 'dist/agent');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; engines: { node: string } };

describe('dist/agent (the agent as copied to a board)', () => {
  let broker: Broker;
  let dir: string;
  beforeAll(async () => {
    broker = await startMosquitto();
    // a bare folder under /tmp: no node_modules in it or above it
    dir = await mkdtemp(join(tmpdir(), 'fota-board-'));
  });
  afterAll(async () => {
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('has a manifest whose checksums, version and Node range are those of the files and package.json', () => {
    const m = JSON.parse(readFileSync(join(ART, 'manifest.json'), 'utf8')) as { version: string; node: string; nativeAddons: string[]; files: Record<string, string> };
    expect([m.version, m.node, m.nativeAddons]).toEqual([pkg.version, pkg.engines.node, []]);
    expect(Object.keys(m.files).sort()).toEqual(['fota-agent.mjs', 'fota-agent.service']);
    for (const [name, sum] of Object.entries(m.files)) expect(createHash('sha256').update(readFileSync(join(ART, name))).digest('hex')).toBe(sum);
    expect(readFileSync(join(ART, 'fota-agent.service'), 'utf8')).toBe(readFileSync(join(ROOT, 'systemd/fota-agent.service'), 'utf8'));
  });

  it('runs alone from an empty folder: registers with a real broker and stops cleanly', async () => {
    copyFileSync(join(ART, 'fota-agent.mjs'), join(dir, 'fota-agent.mjs'));
    await ensureSimDevice({ dir: join(dir, 'dev'), id: 'art1', imageSize: 64 * 1024, slotCapacity: 1024 * 1024 });
    await bootOnce(join(dir, 'dev'));
    const config = join(dir, 'agent.json');
    await writeFile(config, JSON.stringify({ deviceId: 'art1', broker: { url: broker.url }, platform: { name: 'simulator', options: { dir: join(dir, 'dev') } }, stateDir: join(dir, 'state'), allowUnsigned: true }));
    const child = spawn(process.execPath, ['--jitless', join(dir, 'fota-agent.mjs'), '--config', config], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, NODE_PATH: '' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    const end = Date.now() + 15_000;
    while (!out.includes('"msg":"registered"') && Date.now() < end && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('"msg":"registered"');
    expect(out).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
  });
});
