// GPIO through the libgpiod command-line tools, where sysfs GPIO is gone: no native code. v1 (Debian bookworm,
// 1.6) and v2 (trixie) differ: v2 takes the chip with -c and `gpioset` holds the line until it is killed; v1 takes the
// chip first and holds only with `-m signal`. On the character device a line falls back to its default when the
// holding process exits (gpioset --help, libgpiod #32), so an output is one long-lived gpioset per value, replaced on
// each change; an input is one long-lived gpiomon printing edges (-F %e: 1 rising; 0 (v1) or 2 (v2) falling).
//
// INVARIANTS
// - At most one gpioset holds an output; a change waits for the previous holder to exit before the next starts.
// - Every child is killed by close(); none outlives the line.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { GpioError, PI_HEADER_CHIPS, type GpioBackend, type GpioLine, type LineRef } from './gpio-port.js';

export interface GpiodTools {
  gpiodetect: string;
  gpioset: string;
  gpiomon: string;
}

export const DEFAULT_GPIOD_TOOLS: GpiodTools = { gpiodetect: 'gpiodetect', gpioset: 'gpioset', gpiomon: 'gpiomon' };

function run(tool: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { timeout: 5000, encoding: 'utf8' }, (err, stdout, stderr) => (err ? reject(new GpioError(`${tool} ${args.join(' ')}: ${String(stderr).trim() || err.message}`, { cause: err })) : resolve(stdout)));
  });
}

/** 1 or 2 from `gpioset --version` ("gpioset (libgpiod) v1.6.3"), or undefined when the tools are not there. */
export async function gpiodVersion(tools: GpiodTools = DEFAULT_GPIOD_TOOLS): Promise<1 | 2 | undefined> {
  const out = await run(tools.gpioset, ['--version']).catch(() => undefined);
  const major = /libgpiod\)?\s+v?(\d+)\./.exec(out ?? '')?.[1];
  return major === '1' ? 1 : major === '2' ? 2 : undefined;
}

/** gpiodetect: "gpiochip0 [pinctrl-bcm2711] (58 lines)" → the chip name for a label (or the Pi's header chip). */
async function chipName(tools: GpiodTools, label: string): Promise<string> {
  const chips = [...(await run(tools.gpiodetect, [])).matchAll(/^(\S+)\s+\[([^\]]*)\]/gm)].map((m) => ({ name: m[1]!, label: m[2]! }));
  const wanted = label ? [label] : [...PI_HEADER_CHIPS];
  const chip = wanted.map((l) => chips.find((c) => c.label === l)).find((c) => c !== undefined);
  if (!chip) throw new GpioError(`no GPIO chip labelled ${wanted.join(' or ')} (gpiodetect: ${chips.map((c) => c.label).join(', ') || 'none'}); set gpio.*.chip`);
  return chip.name;
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

class HeldOutput implements GpioLine {
  private holder: ChildProcess | undefined;
  private value: boolean | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly tools: GpiodTools,
    private readonly version: 1 | 2,
    private readonly chip: string,
    private readonly ref: LineRef,
  ) {}

  set(on: boolean): Promise<void> {
    const next = this.chain.then(async () => {
      if (on === this.value && this.holder?.exitCode === null) return;
      await stop(this.holder);
      const lowFlag = this.ref.activeLow ? ['-l'] : [];
      const assign = `${this.ref.line}=${on ? 1 : 0}`;
      const args = this.version === 1 ? [...lowFlag, '-m', 'signal', this.chip, assign] : [...lowFlag, '-c', this.chip, assign];
      const child = spawn(this.tools.gpioset, args, { stdio: 'ignore' });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (e) => reject(new GpioError(`${this.tools.gpioset}: ${e.message}`, { cause: e })));
      });
      this.holder = child;
      this.value = on;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  watch(): () => void {
    throw new GpioError('an output line is not watched');
  }

  async close(): Promise<void> {
    await this.chain;
    await stop(this.holder);
    this.holder = undefined;
  }
}

class MonitoredInput implements GpioLine {
  private mon: ChildProcess | undefined;

  constructor(
    private readonly tools: GpiodTools,
    private readonly version: 1 | 2,
    private readonly chip: string,
    private readonly ref: LineRef,
  ) {}

  set(): Promise<void> {
    return Promise.reject(new GpioError('an input line is not set'));
  }

  watch(onChange: (on: boolean) => void): () => void {
    const lowFlag = this.ref.activeLow ? ['-l'] : [];
    const args = this.version === 1 ? [...lowFlag, '-b', '-F', '%e', this.chip, String(this.ref.line)] : [...lowFlag, '-F', '%e', '-c', this.chip, String(this.ref.line)];
    const mon = spawn(this.tools.gpiomon, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    // gpiomon reports edges only: start from "released" (a button held now is seen once it is let go and pressed again)
    onChange(false);
    mon.on('error', () => undefined);
    let buf = '';
    mon.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const e = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (e === '1') onChange(true);
        else if (e === '0' || e === '2') onChange(false);
      }
    });
    this.mon = mon;
    return () => void stop(mon);
  }

  async close(): Promise<void> {
    await stop(this.mon);
  }
}

export async function gpiodBackend(tools: GpiodTools = DEFAULT_GPIOD_TOOLS): Promise<GpioBackend | undefined> {
  const version = await gpiodVersion(tools);
  if (version === undefined) return undefined;
  return {
    name: `gpiod v${version}`,
    output: async (ref) => new HeldOutput(tools, version, await chipName(tools, ref.chip), ref),
    input: async (ref) => new MonitoredInput(tools, version, await chipName(tools, ref.chip), ref),
  };
}
