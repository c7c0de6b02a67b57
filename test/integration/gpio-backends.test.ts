// The GPIO backends on files and processes: a fake sysfs tree (gpiochipN/{base,label,ngpio}, export, gpioN/…, with a
// stand-in kernel that creates gpioN when it is exported) and fake libgpiod tools in v1 and v2 flavours that log their
// arguments, hold an output until killed, and print edges from a feed. Then the whole front panel: the LED blinking
// into the value file, a held button starting a factory reset, and a board without GPIO running on, said once.
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile, appendFile } from 'node:fs/promises';
import { watch as fsWatch, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gpiodBackend, type GpiodTools } from '../../agent/adapters/gpio-gpiod.js';
import { startPanel, type PanelConfig } from '../../agent/adapters/gpio-panel.js';
import { globalNumber, sysfsBackend } from '../../agent/adapters/gpio-sysfs.js';
import { initialFirmwareState, type FirmwareState } from '../../agent/core/firmware-machine.js';
import type { Logger } from '../../agent/core/ports.js';

const until = async (cond: () => Promise<boolean> | boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

function logs(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const put = (level: string) => (msg: string, f?: Record<string, unknown>) => void lines.push(`${level} ${msg} ${JSON.stringify(f ?? {})}`);
  return { lines, info: put('info'), warn: put('warn'), error: put('error'), transition: () => undefined };
}

/** A sysfs GPIO folder: chips with base/label/ngpio, and a stand-in kernel that creates gpioN on export. */
async function fakeSysfs(dir: string, chips: { name: string; label: string; base: number; ngpio: number }[]) {
  const root = join(dir, 'gpio');
  await mkdir(root, { recursive: true });
  for (const c of chips) {
    await mkdir(join(root, c.name));
    await writeFile(join(root, c.name, 'label'), `${c.label}\n`);
    await writeFile(join(root, c.name, 'base'), `${c.base}\n`);
    await writeFile(join(root, c.name, 'ngpio'), `${c.ngpio}\n`);
  }
  await writeFile(join(root, 'export'), '');
  // synchronous, like the kernel: gpioN and its files exist whole once the export write returns
  const kernel = fsWatch(join(root, 'export'), () => {
    const n = readFileSync(join(root, 'export'), 'utf8').trim();
    const d = join(root, `gpio${n}`);
    if (!n || existsSync(d)) return;
    mkdirSync(join(d, 'tmp'), { recursive: true });
    for (const f of ['direction', 'value', 'active_low']) writeFileSync(join(d, 'tmp', f), f === 'direction' ? 'in' : '0');
    for (const f of ['direction', 'active_low', 'value']) renameSync(join(d, 'tmp', f), join(d, f));
  });
  return { root, close: () => kernel.close() };
}

describe('sysfs GPIO', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fota-gpio-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('global numbers come from the labelled chip\'s base (Pi 4 on 6.6: 512 + offset), never a fixed one', async () => {
    const { root, close } = await fakeSysfs(dir, [
      { name: 'gpiochip512', label: 'pinctrl-bcm2711', base: 512, ngpio: 58 },
      { name: 'gpiochip570', label: 'raspberrypi-exp-gpio', base: 570, ngpio: 8 },
    ]);
    close();
    expect(await globalNumber(root, { chip: '', line: 17, activeLow: false })).toBe(529);
    expect(await globalNumber(root, { chip: 'raspberrypi-exp-gpio', line: 2, activeLow: false })).toBe(572);
    await expect(globalNumber(root, { chip: '', line: 58, activeLow: false })).rejects.toThrow(/beyond chip pinctrl-bcm2711's 58 lines/);
    await expect(globalNumber(root, { chip: 'pinctrl-rp1', line: 1, activeLow: false })).rejects.toThrow(/no GPIO chip labelled pinctrl-rp1 .*found: pinctrl-bcm2711, raspberrypi-exp-gpio/);
  });

  it('exports, configures and drives a line through its files; an input is followed by polling', async () => {
    const { root, close } = await fakeSysfs(dir, [{ name: 'gpiochip571', label: 'pinctrl-rp1', base: 571, ngpio: 54 }]);
    try {
      const backend = sysfsBackend(root, undefined);
      expect(backend.name).toBe('sysfs');
      const led = await backend.output({ chip: '', line: 4, activeLow: true });
      expect(await readFile(join(root, 'export'), 'utf8')).toBe('575');
      expect(await readFile(join(root, 'gpio575', 'active_low'), 'utf8')).toBe('1');
      // an active-low LED starts off: the level high
      expect(await readFile(join(root, 'gpio575', 'direction'), 'utf8')).toBe('high');
      await led.set(true);
      expect(await readFile(join(root, 'gpio575', 'value'), 'utf8')).toBe('1');
      await led.close();
      expect(await readFile(join(root, 'gpio575', 'value'), 'utf8')).toBe('0');
      const button = await backend.input({ chip: '', line: 5, activeLow: true });
      expect(await readFile(join(root, 'gpio576', 'direction'), 'utf8')).toBe('in');
      const seen: boolean[] = [];
      const stop = button.watch((on) => seen.push(on));
      await until(() => seen.length === 1);
      await writeFile(join(root, 'gpio576', 'value'), '1');
      await until(() => seen.length === 2);
      expect(seen).toEqual([false, true]);
      stop();
      await button.close();
    } finally {
      close();
    }
  });
});

/** Fake gpiod tools: argv logged to LOG, gpioset holds until SIGTERM, gpiomon prints FEED's new lines. */
async function fakeGpiod(dir: string, version: 1 | 2): Promise<GpiodTools & { log: string; feed: string }> {
  const log = join(dir, `gpiod-v${version}.log`);
  const feed = join(dir, `gpiomon-v${version}.feed`);
  await writeFile(log, '');
  await writeFile(feed, '');
  const tool = async (name: string, body: string) => {
    const p = join(dir, `${name}-v${version}`);
    await writeFile(p, `#!${process.execPath}\nconst fs = require('fs');\nconst args = process.argv.slice(2);\n${body}\n`);
    await chmod(p, 0o755);
    return p;
  };
  const record = `fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify([require('path').basename(process.argv[1]), ...args]) + '\\n');`;
  return {
    log,
    feed,
    gpiodetect: await tool('gpiodetect', `${record}\nconsole.log('gpiochip0 [pinctrl-rp1] (54 lines)');\nconsole.log('gpiochip10 [gpio-brcmstb@107d508500] (32 lines)');`),
    gpioset: await tool('gpioset', `if (args[0] === '--version') { console.log('gpioset (libgpiod) v${version === 1 ? '1.6.3' : '2.1'}'); process.exit(0); }\n${record}\nprocess.on('SIGTERM', () => { fs.appendFileSync(${JSON.stringify(log)}, '"released"\\n'); process.exit(0); });\nsetInterval(() => undefined, 1000);`),
    gpiomon: await tool('gpiomon', `${record}\nlet at = 0;\nsetInterval(() => { const t = fs.readFileSync(${JSON.stringify(feed)}, 'utf8'); process.stdout.write(t.slice(at)); at = t.length; }, 20);\nprocess.on('SIGTERM', () => process.exit(0));`),
  };
}

const lines = async (f: string) => (await readFile(f, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);

describe.each([1, 2] as const)('libgpiod tools, v%i', (version) => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fota-gpiod-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('an output is held by one gpioset per value, in this version\'s syntax, the chip found by label', async () => {
    const tools = await fakeGpiod(dir, version);
    const backend = (await gpiodBackend(tools))!;
    expect(backend.name).toBe(`gpiod v${version}`);
    const led = await backend.output({ chip: 'pinctrl-rp1', line: 17, activeLow: true });
    const holds = async () => (await lines(tools.log)).filter((l) => (l as string[])[0] === `gpioset-v${version}`).length;
    await led.set(true);
    await until(async () => (await holds()) === 1); // (a real gpioset takes its signals at once; node needs a moment)
    await led.set(true); // the same value: nothing respawned
    await led.set(false);
    await until(async () => (await holds()) === 2);
    await led.close();
    const want = version === 1 ? (v: number) => ['gpioset-v1', '-l', '-m', 'signal', 'gpiochip0', `17=${v}`] : (v: number) => ['gpioset-v2', '-l', '-c', 'gpiochip0', `17=${v}`];
    await until(async () => (await lines(tools.log)).filter((l) => l === 'released').length === 2);
    expect((await lines(tools.log)).filter((l) => l !== 'released' && (l as string[])[0] !== 'gpiodetect-v' + version)).toEqual([want(1), want(0)]);
    // each holder was released before the next took the line
    expect((await lines(tools.log)).filter((l) => (l as string[])[0] !== `gpiodetect-v${version}`).map((l) => (l === 'released' ? 'released' : 'hold'))).toEqual(['hold', 'released', 'hold', 'released']);
  });

  it('an input is one gpiomon printing edges (%e): rising is pressed, 0 (v1) or 2 (v2) released', async () => {
    const tools = await fakeGpiod(dir, version);
    const backend = (await gpiodBackend(tools))!;
    const button = await backend.input({ chip: '', line: 27, activeLow: true });
    const seen: boolean[] = [];
    button.watch((on) => seen.push(on));
    await appendFile(tools.feed, `1\n${version === 1 ? 0 : 2}\n1\n`);
    await until(() => seen.length === 4);
    expect(seen).toEqual([false, true, false, true]);
    await button.close();
    const mon = (await lines(tools.log)).find((l) => (l as string[])[0] === `gpiomon-v${version}`);
    expect(mon).toEqual(version === 1 ? ['gpiomon-v1', '-l', '-b', '-F', '%e', 'gpiochip0', '27'] : ['gpiomon-v2', '-l', '-F', '%e', '-c', 'gpiochip0', '27']);
  });
});

describe('front panel', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fota-panel-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  const config = (root: string, over: Partial<PanelConfig> = {}): PanelConfig => ({
    backend: 'auto',
    sysfsRoot: root,
    led: { line: 4, chip: '', activeLow: false },
    button: { line: 5, chip: '', activeLow: true, holdSec: 2 },
    ...over,
  });

  it('the LED follows the firmware state and a held button asks for a factory reset', async () => {
    const { root, close } = await fakeSysfs(dir, [{ name: 'gpiochip512', label: 'pinctrl-bcm2711', base: 512, ngpio: 58 }]);
    let state: FirmwareState = initialFirmwareState();
    let watcher: (s: FirmwareState) => void = () => undefined;
    let held = 0;
    const logger = logs();
    const panel = await startPanel(config(root), { logger, watch: (fn) => ((watcher = fn), () => undefined), current: () => state, onHeld: () => held++ });
    try {
      expect(panel?.backend).toBe('sysfs');
      const value = join(root, 'gpio516', 'value');
      // downloading blinks at 1 Hz: both levels show up within a couple of seconds
      state = { ...state, phase: 'downloading' };
      watcher(state);
      const levels = new Set<string>();
      await until(async () => (levels.add(await readFile(value, 'utf8')), levels.size === 2), 3000);
      await until(() => existsSync(join(root, 'gpio517', 'value')));
      await writeFile(join(root, 'gpio517', 'value'), '1'); // pressed (logical, active-low handled by the kernel)
      await until(() => held === 1, 5000);
      expect(logger.lines.join('\n')).toMatch(/info front panel .*"backend":"sysfs"/);
    } finally {
      await panel?.close();
      close();
    }
    expect((await stat(join(root, 'gpio516', 'value'))).size).toBeGreaterThan(0);
  }, 20_000);

  it('without GPIO the agent runs on, and says so once', async () => {
    const logger = logs();
    const tools = { gpiodetect: join(dir, 'none'), gpioset: join(dir, 'none'), gpiomon: join(dir, 'none') };
    const panel = await startPanel(config(join(dir, 'no-sysfs')), { logger, watch: () => () => undefined, current: initialFirmwareState, onHeld: () => undefined, gpiodTools: tools });
    expect(panel).toBeUndefined();
    expect(logger.lines).toEqual([expect.stringMatching(/^warn running without the status LED and reset button: no GPIO on this board .*no libgpiod tools/)]);
    // nothing configured: nothing opened, nothing said
    const quiet = logs();
    expect(await startPanel({ ...config(join(dir, 'no-sysfs')), led: { line: -1, chip: '', activeLow: false }, button: { line: -1, chip: '', activeLow: true, holdSec: 10 } }, { logger: quiet, watch: () => () => undefined, current: initialFirmwareState, onHeld: () => undefined })).toBeUndefined();
    expect(quiet.lines).toEqual([]);
  });
});
