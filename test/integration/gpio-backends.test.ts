// The GPIO backends on files and processes: a fake sysfs tree (gpiochipN/{base,label,ngpio}, export, gpioN/…, with a
// stand-in kernel that creates gpioN when it is exported) and fake libgpiod tools in v1 and v2 flavours that log their
// arguments, hold an output until killed, and print edges from a feed. Then the whole front panel: the LED blinking
// into the value file, a held button starting a factory reset, and a board without GPIO running on, said once.
// node18-leg: no (onoff's native epoll add-on is built for the system Node's ABI by npm ci; on a board it is built for the board's Node)
import { chmod, mkdtemp, readFile, rm, stat, writeFile, appendFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { gpiodBackend, gpiodVersion, gpiomonArgs, gpiosetArgs } from '../../agent/adapters/gpio-gpiod.js';
import { startPanel, type PanelConfig } from '../../agent/adapters/gpio-panel.js';
import { globalNumber, sysfsBackend } from '../../agent/adapters/gpio-sysfs.js';
import { initialFirmwareState, type FirmwareState } from '../../agent/core/firmware-machine.js';
import type { Logger } from '../../agent/core/ports.js';
import { fakeGpioSysfs } from '../helpers/fake-gpio-sysfs.js';
import { fakeGpiodTools } from '../helpers/fake-gpiod-tools.js';

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

describe('sysfs GPIO', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fota-gpio-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('global numbers come from the labelled chip\'s base (Pi 4 on 6.6: 512 + offset), never a fixed one', async () => {
    const { root, close } = await fakeGpioSysfs(dir, [
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
    const { root, close } = await fakeGpioSysfs(dir, [{ name: 'gpiochip571', label: 'pinctrl-rp1', base: 571, ngpio: 54 }]);
    try {
      const backend = sysfsBackend(root, 'Cannot find package onoff');
      expect(backend.name).toBe('sysfs files (onoff did not load: Cannot find package onoff)');
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

const fakeGpiod = (dir: string, version: 1 | 2) => fakeGpiodTools(dir, version);

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
    // the holder we ended exits 0 after SIGTERM, as the real tools do: that is no failure of the line
    await new Promise((r) => setTimeout(r, 200));
    await led.set(true);
    await until(async () => (await holds()) === 3);
    await led.close();
    const want = version === 1 ? (v: number) => ['gpioset-v1', '-l', '-m', 'signal', 'gpiochip0', `17=${v}`] : (v: number) => ['gpioset-v2', '-l', '-c', 'gpiochip0', `17=${v}`];
    await until(async () => (await lines(tools.log)).filter((l) => l === 'released').length === 3);
    expect((await lines(tools.log)).filter((l) => l !== 'released' && (l as string[])[0] !== 'gpiodetect-v' + version)).toEqual([want(1), want(0), want(1)]);
    // each holder was released before the next took the line
    expect((await lines(tools.log)).filter((l) => (l as string[])[0] !== `gpiodetect-v${version}`).map((l) => (l === 'released' ? 'released' : 'hold'))).toEqual(['hold', 'released', 'hold', 'released', 'hold', 'released']);
  });

  it('an input is one gpiomon printing edges (%e): rising is pressed, 0 (v1) or 2 (v2) released', async () => {
    const tools = await fakeGpiod(dir, version);
    const backend = (await gpiodBackend(tools))!;
    const button = await backend.input({ chip: '', line: 27, activeLow: true });
    const seen: boolean[] = [];
    button.watch((on) => seen.push(on));
    await until(async () => (await lines(tools.log)).some((l) => (l as string[])[0] === `gpiomon-v${version}`));
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
    const { root, close } = await fakeGpioSysfs(dir, [{ name: 'gpiochip512', label: 'pinctrl-bcm2711', base: 512, ngpio: 58 }]);
    let state: FirmwareState = initialFirmwareState();
    let watcher: (s: FirmwareState) => void = () => undefined;
    let held = 0;
    const logger = logs();
    const panel = await startPanel(config(root), { logger, watch: (fn) => ((watcher = fn), () => undefined), current: () => state, onHeld: () => held++ });
    try {
      expect(panel?.backend).toBe('sysfs files (onoff drives /sys/class/gpio only)');
      const value = join(root, 'gpio516', 'value');
      // downloading blinks at 1 Hz: both levels show up within a couple of seconds
      state = { ...state, phase: 'downloading' };
      watcher(state);
      const levels = new Set<string>();
      await until(async () => (levels.add(await readFile(value, 'utf8')), levels.size === 2), 3000);
      await until(() => existsSync(join(root, 'gpio517', 'value')));
      await writeFile(join(root, 'gpio517', 'value'), '1'); // pressed (logical, active-low handled by the kernel)
      await until(() => held === 1, 5000);
      expect(logger.lines.join('\n')).toMatch(/info front panel .*"backend":"sysfs files/);
      expect(logger.lines.filter((l) => l.startsWith('info status LED')).map((l) => /"status":"(\w+)"/.exec(l)?.[1])).toEqual(['idle', 'downloading']);
    } finally {
      await panel?.close();
      close();
    }
    expect((await stat(join(root, 'gpio516', 'value'))).size).toBeGreaterThan(0);
  }, 20_000);

  it('a chip that is not there (a board other than a Pi, chip left empty) is a warning naming what is there', async () => {
    const { root, close } = await fakeGpioSysfs(dir, [{ name: 'gpiochip0', label: 'gpio_ich', base: 0, ngpio: 64 }]);
    try {
      const logger = logs();
      const panel = await startPanel(config(root), { logger, watch: () => () => undefined, current: initialFirmwareState, onHeld: () => undefined });
      await panel?.close();
      const warns = logger.lines.filter((l) => l.startsWith('warn'));
      expect(warns).toEqual([
        expect.stringMatching(/^warn running without the status LED .*no GPIO chip labelled pinctrl-rp1 or pinctrl-bcm2711 or pinctrl-bcm2835 in .* \(found: gpio_ich\); set gpio\.\*\.chip/),
        expect.stringMatching(/^warn running without the reset button .*no GPIO chip labelled/),
      ]);
      // the right label works on the same board
      const ok = logs();
      const named = await startPanel(config(root, { led: { line: 3, chip: 'gpio_ich', activeLow: false }, button: { line: -1, chip: '', activeLow: true, holdSec: 10 } }), { logger: ok, watch: () => () => undefined, current: initialFirmwareState, onHeld: () => undefined });
      expect(ok.lines.filter((l) => l.startsWith('warn'))).toEqual([]);
      await until(() => existsSync(join(root, 'gpio3', 'value')));
      await named?.close();
    } finally {
      close();
    }
  });

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

describe('libgpiod tools that fail', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fota-gpiod-fail-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('a gpioset that exits on its own (a busy line) fails the next set(); a gpiomon that exits is reported, once', async () => {
    const tools = await fakeGpiod(dir, 2);
    // the real tools' messages when another program holds the line (v2 gpioset.c die_perror, errno EBUSY)
    const failing = async (name: string, message: string) => {
      const p = join(dir, `${name}-busy`);
      await writeFile(p, `#!${process.execPath}\nif (process.argv[2] === '--version') { console.log('${name} (libgpiod) v2.1'); process.exit(0); }\nconsole.error(${JSON.stringify(message)});\nprocess.exit(1);\n`);
      await chmod(p, 0o755);
      return p;
    };
    const busy = { ...tools, gpioset: await failing('gpioset', 'gpioset: unable to request lines on chip /dev/gpiochip0: Device or resource busy'), gpiomon: await failing('gpiomon', 'gpiomon: unable to request lines on chip /dev/gpiochip0: Device or resource busy') };
    const backend = (await gpiodBackend(busy))!;
    const led = await backend.output({ chip: '', line: 17, activeLow: false });
    await led.set(true); // started: whether it holds is only known once it exits
    await until(async () => led.set(false).then(() => false, (e: Error) => /exited \(1\): gpioset: unable to request lines .*Device or resource busy/.test(e.message)));
    await led.close();
    const button = await backend.input({ chip: '', line: 27, activeLow: true });
    const errors: string[] = [];
    button.watch(() => undefined, (e) => errors.push(String(e)));
    await until(() => errors.length === 1);
    expect(errors[0]).toMatch(/gpiomon-busy -l -F %e -c gpiochip0 27 exited \(1\): gpiomon: unable to request lines .*busy/);
    await button.close();
    expect(errors).toHaveLength(1);
  });
});

describe('the real libgpiod tools (Debian gpiod) take the argv built for their version', () => {
  // No GPIO chip exists on this machine (no /dev/gpiochip*, no gpio-sim): each tool gets as far as opening the chip,
  // which proves the options parsed; a usage error would stop it earlier. The other version's argv is the control.
  const tool = (name: string, args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(name, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('close', (code) => resolve({ code, stderr }));
    });
  const usageError = /invalid option|unrecognized option|try \S+ --help|at least one GPIO line/;

  it('gpioset and gpiomon: options accepted, then no such chip', async () => {
    const version = await gpiodVersion();
    expect(version, 'gpioset --version: install Debian gpiod (.ci/run)').toBeDefined();
    const ref = { chip: 'fota-no-such-chip', line: 17, activeLow: true };
    for (const [name, args, other] of [
      ['gpioset', gpiosetArgs(version!, ref.chip, ref, true), gpiosetArgs(version === 1 ? 2 : 1, ref.chip, ref, true)],
      ['gpiomon', gpiomonArgs(version!, ref.chip, ref), gpiomonArgs(version === 1 ? 2 : 1, ref.chip, ref)],
    ] as const) {
      const ok = await tool(name, [...args]);
      expect(ok.code, `${name} ${args.join(' ')}: ${ok.stderr}`).not.toBe(0);
      expect(ok.stderr).not.toMatch(usageError);
      expect(ok.stderr).toMatch(/No such file or directory|cannot find|unable to open chip/);
      const wrong = await tool(name, [...other]);
      expect(wrong.stderr, `${name} ${other.join(' ')} should be refused by v${version}`).toMatch(usageError);
    }
    // and gpiodetect on a machine without chips: nothing, which the backend turns into a clear "no chip" error
    const backend = (await gpiodBackend())!;
    await expect(backend.output({ chip: '', line: 4, activeLow: false })).rejects.toThrow(/no GPIO chip labelled pinctrl-rp1 or pinctrl-bcm2711 or pinctrl-bcm2835 \(gpiodetect: none\); set gpio\.\*\.chip/);
  });
});
