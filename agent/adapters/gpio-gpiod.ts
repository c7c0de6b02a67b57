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

/**
 * gpioset's argv, no shell. v1: `gpioset [-l] -m signal CHIP OFF=V` (-m signal: hold until a signal; the default
 * "exit" releases the line at once). v2: `gpioset [-l] -c CHIP OFF=V` (holds until killed by default; options before
 * the line: its getopt string starts with "+").
 */
export function gpiosetArgs(version: 1 | 2, chip: string, ref: LineRef, on: boolean): string[] {
  const lowFlag = ref.activeLow ? ['-l'] : [];
  const assign = `${ref.line}=${on ? 1 : 0}`;
  return version === 1 ? [...lowFlag, '-m', 'signal', chip, assign] : [...lowFlag, '-c', chip, assign];
}

/** gpiomon's argv: edges as %e, one a line. v1 needs -b for a line-buffered pipe; v2 flushes after each batch. */
export function gpiomonArgs(version: 1 | 2, chip: string, ref: LineRef): string[] {
  const lowFlag = ref.activeLow ? ['-l'] : [];
  return version === 1 ? [...lowFlag, '-b', '-F', '%e', chip, String(ref.line)] : [...lowFlag, '-F', '%e', '-c', chip, String(ref.line)];
}

/** the children stop() ended: their exit is no news (gpioset and gpiomon catch SIGTERM and exit 0) */
const ended = new WeakSet<ChildProcess>();

function stop(child: ChildProcess | undefined): Promise<void> {
  if (child) ended.add(child);
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
  /** why the last holder exited on its own (a busy line, a chip gone): the next set() rejects with it */
  private lost: GpioError | undefined;

  constructor(
    private readonly tools: GpiodTools,
    private readonly version: 1 | 2,
    private readonly chip: string,
    private readonly ref: LineRef,
  ) {}

  set(on: boolean): Promise<void> {
    const next = this.chain.then(async () => {
      if (this.lost) throw this.lost;
      if (on === this.value && this.holder?.exitCode === null) return;
      await stop(this.holder);
      const args = gpiosetArgs(this.version, this.chip, this.ref, on);
      const child = spawn(this.tools.gpioset, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-500)));
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (e) => reject(new GpioError(`${this.tools.gpioset}: ${e.message}`, { cause: e })));
      });
      // a holder is only ever ended by stop(); any other exit means the line is no longer held
      child.once('exit', (code, signal) => {
        if (!ended.has(child)) this.lost ??= new GpioError(`${this.tools.gpioset} ${args.join(' ')} exited (${code ?? signal}): ${stderr.trim() || 'no message'}`);
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
  private stopWatch: (() => void) | undefined;

  constructor(
    private readonly tools: GpiodTools,
    private readonly version: 1 | 2,
    private readonly chip: string,
    private readonly ref: LineRef,
  ) {}

  set(): Promise<void> {
    return Promise.reject(new GpioError('an input line is not set'));
  }

  watch(onChange: (on: boolean) => void, onError?: (e: unknown) => void): () => void {
    const args = gpiomonArgs(this.version, this.chip, this.ref);
    const mon = spawn(this.tools.gpiomon, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    // gpiomon reports edges only: start from "released" (a button held now is seen once it is let go and pressed again)
    onChange(false);
    mon.on('error', (e) => onError?.(new GpioError(`${this.tools.gpiomon}: ${e.message}`, { cause: e })));
    mon.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-500)));
    mon.once('exit', (code, signal) => {
      if (!ended.has(mon)) onError?.(new GpioError(`${this.tools.gpiomon} ${args.join(' ')} exited (${code ?? signal}): ${stderr.trim() || 'no message'}`));
    });
    let buf = '';
    mon.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const e = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (e === '1') onChange(true);
        else if (e === '0' || e === '2') onChange(false);
      }
      if (buf.length > 4096) buf = ''; // not gpiomon's output: drop it rather than grow
    });
    this.mon = mon;
    this.stopWatch = () => void stop(mon);
    return this.stopWatch;
  }

  async close(): Promise<void> {
    this.stopWatch?.();
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
