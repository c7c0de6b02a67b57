// Runs the BootEnv contract against FileBootEnv and FwToolsBootEnv (the real fw_printenv/fw_setenv), single and
// redundant, on environments made by u-boot-tools' mkenvimage; then checks the two read each other's writes.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serializeEnvImage } from '../../platform/uboot/env-format.js';
import { createEnvFile, FileBootEnv } from '../../platform/uboot/file-boot-env.js';
import { formatFwEnvConfig } from '../../platform/uboot/fw-env-config.js';
import { FwToolsBootEnv, parsePrintenv } from '../../platform/uboot/fw-tools-boot-env.js';
import { loggedTool, type LoggedTool } from '../helpers/logged-tool.js';
import { bootEnvContract, INITIAL } from './boot-env.contract.js';

const run = promisify(execFile);
const SIZE = 0x4000;

interface Made {
  dir: string;
  file: string;
  config: string;
}

/** An environment file built by mkenvimage (-p 0: zero padding), two copies back to back when redundant. */
async function makeEnv(vars: Record<string, string>, redundant: boolean): Promise<Made> {
  const dir = await mkdtemp(join(tmpdir(), 'fota-bootenv-'));
  const text = join(dir, 'vars.txt');
  await writeFile(text, Object.entries(vars).map(([k, v]) => `${k}=${v}\n`).join(''));
  const copy = join(dir, 'copy.img');
  await run('mkenvimage', [...(redundant ? ['-r'] : []), '-p', '0', '-s', `0x${SIZE.toString(16)}`, '-o', copy, text]);
  const one = await readFile(copy);
  const file = join(dir, 'uboot.env');
  await writeFile(file, redundant ? Buffer.concat([one, one]) : one);
  const config = join(dir, 'fw_env.config');
  const locs = [{ path: file, offset: 0, size: SIZE }];
  if (redundant) locs.push({ path: file, offset: SIZE, size: SIZE });
  await writeFile(config, formatFwEnvConfig(locs));
  return { dir, file, config };
}

async function printenv(config: string): Promise<Record<string, string>> {
  return parsePrintenv((await run('fw_printenv', ['-c', config])).stdout);
}

for (const redundant of [false, true]) {
  const layout = redundant ? 'redundant' : 'single';
  bootEnvContract(`FileBootEnv (${layout})`, { redundant }, async (vars) => {
    const m = await makeEnv(vars, redundant);
    return { env: await FileBootEnv.fromConfigFile(m.config), file: m.file, size: SIZE, cleanup: () => rm(m.dir, { recursive: true, force: true }) };
  });
  bootEnvContract(`FwToolsBootEnv (${layout})`, { redundant }, async (vars) => {
    const m = await makeEnv(vars, redundant);
    return { env: new FwToolsBootEnv({ config: m.config }), file: m.file, size: SIZE, cleanup: () => rm(m.dir, { recursive: true, force: true }) };
  });

  describe(`FileBootEnv and fw_printenv/fw_setenv agree (${layout})`, () => {
    let m: Made;
    let native: FileBootEnv;
    let tools: FwToolsBootEnv;
    beforeEach(async () => {
      m = await makeEnv(INITIAL, redundant);
      native = await FileBootEnv.fromConfigFile(m.config);
      tools = new FwToolsBootEnv({ config: m.config });
    });
    afterEach(async () => {
      await rm(m.dir, { recursive: true, force: true });
    });

    it('FileBootEnv writes, the real fw_printenv reads the same', async () => {
      await native.write({ boot_part: 'B', upgrade_available: '1', bootcount: '0', bootcmd: null, note: 'a b=c' });
      const want = { boot_part: 'B', bootcount: '0', bootlimit: '3', upgrade_available: '1', note: 'a b=c' };
      expect(await printenv(m.config)).toEqual(want);
      expect(await native.read()).toEqual(want);
    });

    it('fw_setenv writes, FileBootEnv reads the same', async () => {
      await run('fw_setenv', ['-c', m.config, 'boot_part', 'B', 'bootcount', '2']);
      expect(await native.read()).toEqual({ ...INITIAL, boot_part: 'B', bootcount: '2' });
      await tools.write({ upgrade_available: '1', bootcmd: null });
      const { bootcmd: _gone, ...rest } = INITIAL;
      expect(await native.read()).toEqual({ ...rest, boot_part: 'B', bootcount: '2', upgrade_available: '1' });
    });

    it('interleaved writes by both stay consistent (copies alternate correctly)', async () => {
      let model: Record<string, string> = { ...INITIAL };
      for (let i = 0; i < 6; i++) {
        const change = { bootcount: String(i), [`k${i}`]: `v${i}` };
        await (i % 2 === 0 ? native : tools).write(change);
        model = { ...model, ...change };
        expect(await native.read()).toEqual(model);
        expect(await printenv(m.config)).toEqual(model);
      }
    });

    it('the serialiser produces the same bytes as mkenvimage', async () => {
      const sorted = Object.fromEntries(Object.entries(INITIAL).sort(([a], [b]) => (a < b ? -1 : 1)));
      const made = await makeEnv(sorted, redundant);
      try {
        const theirs = (await readFile(made.file)).subarray(0, SIZE);
        const ours = serializeEnvImage(new Map(Object.entries(sorted)), { size: SIZE, redundant, flags: 1 });
        expect(Buffer.compare(Buffer.from(ours), theirs)).toBe(0);
      } finally {
        await rm(made.dir, { recursive: true, force: true });
      }
    });

    it('an environment created by createEnvFile is read by fw_printenv', async () => {
      const file = join(m.dir, 'created.env');
      const locs = await createEnvFile(file, { boot_part: 'A', bootlimit: '3', text: 'café' }, { size: SIZE, redundant });
      const config = join(m.dir, 'created.config');
      await writeFile(config, formatFwEnvConfig(locs));
      expect(await printenv(config)).toEqual({ boot_part: 'A', bootlimit: '3', text: 'café' });
      expect(await new FileBootEnv(locs).read()).toEqual({ boot_part: 'A', bootlimit: '3', text: 'café' });
    });

    if (!redundant) return;

    it('redundant flag wrap-around (255 → 0) is read the same way by both', async () => {
      // copy 0 at flag 254, copy 1 current at flag 255: the next write lands in copy 0 with flag 0
      const old = serializeEnvImage(new Map([['v', 'old']]), { size: SIZE, redundant: true, flags: 254 });
      const cur = serializeEnvImage(new Map([['v', 'current']]), { size: SIZE, redundant: true, flags: 255 });
      await writeFile(m.file, Buffer.concat([old, cur]));
      expect(await printenv(m.config)).toEqual({ v: 'current' });
      await native.write({ v: 'wrapped' });
      const bytes = await readFile(m.file);
      expect(bytes[4]).toBe(0);
      expect(await printenv(m.config)).toEqual({ v: 'wrapped' });
      await tools.write({ v: 'after' });
      expect((await readFile(m.file))[SIZE + 4]).toBe(1);
      expect(await native.read()).toEqual({ v: 'after' });
    });
  });
}

describe('FwToolsBootEnv: the check before a write', () => {
  let m: Made;
  let printenv_: LoggedTool;
  /** FwToolsBootEnv whose fw_printenv is the real one behind a wrapper that logs each run */
  let env: (freshReadMs?: number) => FwToolsBootEnv;
  const printenvRuns = async () => (await printenv_.runs()).length;
  beforeEach(async () => {
    m = await makeEnv(INITIAL, false);
    printenv_ = await loggedTool(m.dir, 'fw_printenv');
    env = (freshReadMs) => new FwToolsBootEnv({ config: m.config, fwPrintenv: printenv_.path, ...(freshReadMs === undefined ? {} : { freshReadMs }) });
  });
  afterEach(async () => {
    await rm(m.dir, { recursive: true, force: true });
  });

  it('a write checks the environment first, unless a read that succeeded came just before it', async () => {
    const e = env();
    await e.write({ bootcount: '1' });
    expect(await printenvRuns()).toBe(1); // the check
    await e.read();
    await e.write({ bootcount: '2' }); // decided on what the read saw: no second fw_printenv
    expect(await printenvRuns()).toBe(2);
    await e.write({ bootcount: '3' }); // a write came between: checked again
    expect(await printenvRuns()).toBe(3);
    expect(await printenv(m.config)).toMatchObject({ bootcount: '3' });
  });

  it('a read too long before, or a failed one, does not stand for the check', async () => {
    const e = env(50);
    await e.read();
    await new Promise((r) => setTimeout(r, 80));
    await e.write({ bootcount: '1' });
    expect(await printenvRuns()).toBe(2);
    // a corrupted environment: the read fails, and the write's own check refuses it
    const bytes = await readFile(m.file);
    bytes[10]! ^= 0xff;
    await writeFile(m.file, bytes);
    await expect(e.read()).rejects.toMatchObject({ reason: 'bad-crc' });
    await expect(e.write({ bootcount: '2' })).rejects.toMatchObject({ reason: 'bad-crc' });
    expect(await printenvRuns()).toBe(4);
    expect(Buffer.compare(await readFile(m.file), bytes)).toBe(0);
  });
});
