// The remote configuration on real files: the store's concurrent saves, its backup copy, and the confirm-or-revert
// document (ConfigOverrides + the start decision), serialised writes included.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startWithOverrides } from '../../agent/adapters/config-overrides.js';
import { FileStore } from '../../agent/adapters/file-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fota-cfgstore-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const raw = () => ({ deviceId: 'd1', platform: { name: 'simulator', options: {} }, allowUnsigned: true, stateDir: dir });
const start = (run = true) => startWithOverrides(raw(), {}, { run });

describe('file store', () => {
  it('50 saves at once from two instances: valid JSON holding the last one, no temporary file left', async () => {
    const a = new FileStore(dir, 'x.json');
    const b = new FileStore(dir, 'x.json');
    await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).save({ i, pad: 'y'.repeat((i * 7919) % 4000) })));
    expect(await a.load()).toMatchObject({ i: 49 });
    expect((await readdir(dir)).sort()).toEqual(['x.json']);
  });

  it('a corrupt file falls back on its backup and says why; neither readable: an error naming both', async () => {
    const s = new FileStore(dir, 'c.json', { backup: true });
    await s.save({ v: 1 });
    await s.save({ v: 2 });
    await writeFile(join(dir, 'c.json'), '{"format":1,"da');
    expect(await s.loadWithBackup()).toEqual({ value: { v: 2 }, from: 'backup', error: `${join(dir, 'c.json')} is not valid JSON` });
    await writeFile(join(dir, 'c.json.bak'), 'garbage');
    await expect(s.loadWithBackup()).rejects.toThrow(/c\.json is not valid JSON; and its backup: .*c\.json\.bak is not valid JSON/);
  });

  it('temporary files of a process that is gone (a power cut mid-save) are removed at load; a running one’s are left', async () => {
    const gone = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')) + 1; // no process can have this pid
    const live = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await writeFile(join(dir, `c.json.${gone}.7.tmp`), 'half');
      await writeFile(join(dir, `c.json.bak.${gone}.2.tmp`), 'half');
      await writeFile(join(dir, `c.json.${live.pid}.3.tmp`), 'a save in flight in another process');
      await writeFile(join(dir, `other.json.${gone}.7.tmp`), 'not ours');
      // this process's pid, from before a reboot (the same boot order gave the agent the same pid): an older agent's
      // name, and one with another tag; the next save's temp name must not meet them either
      await writeFile(join(dir, `c.json.${process.pid}.1.tmp`), 'half, from before the power cut');
      await writeFile(join(dir, `c.json.${process.pid}-0badcafe.1.tmp`), 'half, from before the power cut');
      const store = new FileStore(dir, 'c.json');
      await store.load();
      expect((await readdir(dir)).sort()).toEqual([`c.json.${live.pid}.3.tmp`, `other.json.${gone}.7.tmp`].sort());
      await store.save({ v: 1 });
      expect((await readdir(dir)).sort()).toEqual(['c.json', `c.json.${live.pid}.3.tmp`, `other.json.${gone}.7.tmp`].sort());
      live.kill();
      await once(live, 'exit');
      await store.load();
      expect((await readdir(dir)).sort()).toEqual(['c.json', `other.json.${gone}.7.tmp`]);
    } finally {
      live.kill();
    }
  });

  it('a temp file left before a power cut by a process with this pid never takes the name of a new save', async () => {
    // the agent got the same pid after the reboot, and its save counter starts again: every name it could reuse
    for (let i = 0; i < 2000; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => writeFile(join(dir, `c.json.${process.pid}.${i + j + 1}.tmp`), 'half')));
    const store = new FileStore(dir, 'c.json');
    await store.save({ v: 1 }); // no load first: the name alone must not meet them
    expect(await store.load()).toEqual({ v: 1 });
    expect(await readdir(dir)).toEqual(['c.json']);
  });

  it('another process loading the document all the time (fota-agent status) never fails a save', async () => {
    // the store as the agent's commands run it: bundled, in a process of its own that loads in a loop
    const loader = join(dir, 'loader.mjs');
    await build({ entryPoints: [join(import.meta.dirname, '../../agent/adapters/file-store.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node18', outfile: join(dir, 'store.mjs'), logLevel: 'error' });
    await writeFile(loader, `import { FileStore } from './store.mjs';\nconst s = new FileStore(process.argv[2], 's.json');\nprocess.stdout.write('ready\\n');\nfor (;;) await s.load().catch(() => undefined);\n`);
    const state = join(dir, 'state');
    const child = spawn(process.execPath, [loader, state], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await once(child.stdout, 'data');
      const store = new FileStore(state, 's.json');
      const failed: string[] = [];
      for (let i = 0; i < 300; i++) await store.save({ i }).catch((e: unknown) => failed.push((e as Error).message));
      expect(failed).toEqual([]);
      expect(await store.load()).toEqual({ i: 299 });
    } finally {
      child.kill();
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    }
  });
});

describe('remote configuration: serialised, confirm or revert', () => {
  it('writes at once all land in order; each is a candidate on top of the last', async () => {
    const { config } = await start();
    const results = await Promise.all([config.apply({ 'download.retries': 3 }), config.apply({ logLevel: 'warn' }), config.apply({ 'download.retries': 4 })]);
    expect(results).toEqual([{ changed: true }, { changed: true }, { changed: true }]);
    expect(config.values()).toMatchObject({ 'download.retries': 4, logLevel: 'warn' });
    expect(config.revision()).toBe(3);
    const saved = JSON.parse(await readFile(join(dir, 'config-overrides.json'), 'utf8')) as { data: Record<string, unknown> };
    expect(saved.data).toMatchObject({ revision: 0, values: {}, candidate: { revision: 3, values: { 'download.retries': 4, logLevel: 'warn' }, keys: ['download.retries', 'logLevel'], started: false } });
  });

  it('the same values again: nothing saved; an invalid change: refused, nothing saved', async () => {
    const { config } = await start();
    expect(await config.apply({ 'download.retries': 8 })).toEqual({ changed: false }); // the default
    expect(await readdir(dir)).toEqual([]);
    expect(await config.apply({ 'download.retries': -1 })).toMatchObject({ changed: false, refused: expect.stringContaining('download.retries') });
    expect(await config.apply({ 'broker.password': 'x' })).toMatchObject({ refused: expect.stringContaining('broker.username') });
    expect(await config.apply({ 'broker.reconnectMaxDelaySec': 3600 })).toMatchObject({ refused: expect.stringContaining('remote change must stay') });
    expect(await readdir(dir)).toEqual([]);
  });

  it('a candidate is started once: connected → kept; a second start without connecting → reverted and reported', async () => {
    await (await start()).config.apply({ 'download.retries': 3 });
    // the restart: the candidate is tried (and marked started before anything connects)
    const first = await start();
    expect(first.cfg.download.retries).toBe(3);
    expect(first.config.trial()).toEqual({ revision: 1, keys: ['download.retries'], timeoutMs: 120_000 });
    // that run ended before connecting (power cut): the next start reverts
    const second = await start();
    expect(second.cfg.download.retries).toBe(8);
    expect(second.config.trial()).toBeUndefined();
    expect(second.config.revision()).toBe(0);
    expect(second.config.status()).toBe('revision 1 (download.retries) reverted to revision 0: the agent stopped before it could connect with it');
    expect(second.problems).toEqual([second.config.status()]);

    await second.config.apply({ 'download.retries': 5 });
    const third = await start();
    await third.config.confirm();
    expect(third.config.status()).toBe('revision 1 (download.retries) kept: the agent connected with it');
    const fourth = await start();
    expect(fourth.cfg.download.retries).toBe(5);
    expect(fourth.config.trial()).toBeUndefined();
  });

  it('a candidate that did not connect in time is reverted by the daemon: the next start uses the kept values', async () => {
    const { config } = await start();
    await config.apply({ logLevel: 'error' });
    const trial = await start();
    await trial.config.revert('the agent did not connect to the broker within 120 s with it');
    const after = await start();
    expect(after.cfg.logLevel).toBe('info');
    expect(after.config.status()).toMatch(/^revision 1 \(logLevel\) reverted to revision 0: the agent did not connect/);
  });

  it('a CLI command (not the daemon) neither starts nor reverts a candidate', async () => {
    await (await start()).config.apply({ 'download.retries': 2 });
    const cli = await start(false);
    expect(cli.cfg.download.retries).toBe(2);
    expect(cli.config.trial()).toBeUndefined();
    expect((await start()).config.trial()).toMatchObject({ revision: 1 });
  });

  it('both copies unreadable: the file alone rules, loudly; the hub is told through the status', async () => {
    await writeFile(join(dir, 'config-overrides.json'), 'x');
    await writeFile(join(dir, 'config-overrides.json.bak'), 'y');
    const s = await start();
    expect(s.problems[0]).toMatch(/not valid JSON; and its backup: .*: the hub's configuration changes are lost/);
    expect(s.config.status()).toBe(s.problems[0]);
  });

  it('a configuration file edited since may invalidate the saved changes: the file wins, loudly; the changes stay saved', async () => {
    await (await start()).config.apply({ 'broker.reconnectInitialDelaySec': 30 });
    await (await start()).config.confirm();
    const edited = { ...raw(), broker: { reconnectMaxDelaySec: 10 } };
    const s = await startWithOverrides(edited, {}, { run: true });
    expect(s.problems).toEqual([expect.stringMatching(/^remote configuration changes ignored: broker\.reconnectMaxDelaySec: must not be below/)]);
    expect(s.cfg.broker.reconnectInitialDelaySec).toBe(1);
    // mending the file brings them back
    expect((await start()).cfg.broker.reconnectInitialDelaySec).toBe(30);
  });
});
