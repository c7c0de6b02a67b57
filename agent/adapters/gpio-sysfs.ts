// Sysfs GPIO (/sys/class/gpio): a line's global number is its chip's base plus the offset, the chip found by its
// label under gpiochipN/ (the base moved to 512+ on Pi kernels 6.6: a fixed number is wrong). Lines are driven with
// onoff (interrupts through epoll) when it loads and the root is the real /sys/class/gpio (onoff knows no other),
// else with plain file operations on the configured root. onoff stays optional: it is imported dynamically.

import { constants } from 'node:fs';
import { access, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GpioError, PI_HEADER_CHIPS, type GpioBackend, type GpioLine, type LineRef } from './gpio-port.js';

export const SYSFS_GPIO = '/sys/class/gpio';
/** how often an input without interrupts is read; a reset button is held for seconds, so 50 ms loses nothing */
const POLL_MS = 50;

interface Chip {
  label: string;
  base: number;
  ngpio: number;
}

export async function sysfsChips(root: string): Promise<Chip[]> {
  const names = (await readdir(root).catch(() => [] as string[])).filter((n) => /^gpiochip\d+$/.test(n));
  const out: Chip[] = [];
  for (const n of names) {
    const read = (f: string) => readFile(join(root, n, f), 'utf8').then((t) => t.trim(), () => '');
    const [label, base, ngpio] = await Promise.all([read('label'), read('base'), read('ngpio')]);
    if (/^\d+$/.test(base)) out.push({ label, base: Number(base), ngpio: Number(ngpio) || 0 });
  }
  return out;
}

/** The global sysfs number of a line: base of the chip with that label (or the Pi's header chip) + offset. */
export async function globalNumber(root: string, ref: LineRef): Promise<number> {
  const chips = await sysfsChips(root);
  const wanted = ref.chip ? [ref.chip] : [...PI_HEADER_CHIPS];
  const chip = wanted.map((l) => chips.find((c) => c.label === l)).find((c) => c !== undefined);
  if (!chip) throw new GpioError(`no GPIO chip labelled ${wanted.join(' or ')} in ${root} (found: ${chips.map((c) => c.label).join(', ') || 'none'}); set gpio.*.chip`);
  if (ref.line >= chip.ngpio) throw new GpioError(`line ${ref.line} is beyond chip ${chip.label}'s ${chip.ngpio} lines`);
  return chip.base + ref.line;
}

const exists = (p: string) => access(p).then(() => true, () => false);

/**
 * Exports line n and sets it up: active_low, then the direction. Asynchronous on purpose: onoff's own export waits
 * for udev by retrying openSync up to 10000 times (onoff.js waitForGpioAccessPermission), which would stall the
 * agent's event loop; once the line is exported here, onoff only opens it.
 */
async function exportLine(root: string, n: number, ref: LineRef, output: boolean): Promise<string> {
  const dir = join(root, `gpio${n}`);
  if (!(await exists(dir))) {
    await writeFile(join(root, 'export'), String(n)).catch((e: NodeJS.ErrnoException) => {
      // EBUSY: the kernel or another program holds the line; EINVAL: no such line (a wrong base, e.g. +512 hard-coded)
      throw new GpioError(`cannot export GPIO ${n} (${ref.chip || 'header chip'} line ${ref.line}) at ${root}: ${e.code ?? e.message}`, { cause: e });
    });
    // the kernel creates gpioN at once; udev may take a moment to let us write its files
    for (let i = 0; i < 50 && !(await exists(join(dir, 'value'))); i++) await new Promise((r) => setTimeout(r, 20));
  }
  await writeFile(join(dir, 'active_low'), ref.activeLow ? '1' : '0');
  // "high"/"low" set the direction and the raw level together (gpiolib-sysfs direction_store): start an output off,
  // which is level high for an active-low LED; plain "out" would start it low, i.e. lit
  await writeFile(join(dir, 'direction'), output ? offLevel(ref) : 'in');
  return dir;
}

const offLevel = (ref: LineRef) => (ref.activeLow ? 'high' : 'low');

/** Reads an input every POLL_MS and reports changes: for lines without interrupts. Returns the stop function. */
function pollInput(read: () => Promise<boolean>, onChange: (on: boolean) => void, onError?: (e: unknown) => void): () => void {
  let last: boolean | undefined;
  let failed = false;
  const poll = () =>
    void read().then(
      (on) => {
        if (on !== last) (last = on), onChange(on);
      },
      (e: unknown) => {
        if (!failed) (failed = true), onError?.(e);
      },
    );
  poll();
  const timer = setInterval(poll, POLL_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** A line through the sysfs files (onoff not loaded, or a root other than /sys/class/gpio). Inputs are polled. */
class FileLine implements GpioLine {
  private stopWatch: (() => void) | undefined;
  constructor(
    private readonly dir: string,
    private readonly output: boolean,
  ) {}

  async set(on: boolean): Promise<void> {
    await writeFile(join(this.dir, 'value'), on ? '1' : '0');
  }

  watch(onChange: (on: boolean) => void, onError?: (e: unknown) => void): () => void {
    this.stopWatch = pollInput(async () => (await readFile(join(this.dir, 'value'), 'utf8')).trim() === '1', onChange, onError);
    return this.stopWatch;
  }

  async close(): Promise<void> {
    this.stopWatch?.();
    if (this.output) await this.set(false).catch(() => undefined);
  }
}

/** The part of onoff's Gpio used here (onoff.d.ts). */
export type OnoffGpio = {
  write(v: 0 | 1): Promise<void>;
  read(): Promise<0 | 1>;
  readSync(): 0 | 1;
  watch(cb: (err: Error | null | undefined, v: 0 | 1) => void): void;
  unwatchAll(): void;
  unexport(): void;
};
export type OnoffModule = { Gpio: new (n: number, dir: string, edge?: string, opts?: object) => OnoffGpio };

/** onoff, or why it did not load (not installed, or its native epoll build does not fit this Node). */
export async function loadOnoff(): Promise<OnoffModule | string> {
  try {
    const m = (await import('onoff')) as unknown as OnoffModule & { default?: OnoffModule };
    const Gpio = m.Gpio ?? m.default?.Gpio;
    return Gpio ? { Gpio } : 'onoff has no Gpio export';
  } catch (e) {
    return (e as Error).message.split('\n')[0]!;
  }
}

class OnoffLine implements GpioLine {
  private stopPoll: (() => void) | undefined;
  constructor(
    private readonly gpio: OnoffGpio,
    private readonly output: boolean,
    /** the chip can interrupt on this line (gpioN/edge exists; some cannot, onoff #77) */
    private readonly interrupts: boolean,
  ) {}

  set(on: boolean): Promise<void> {
    return this.gpio.write(on ? 1 : 0);
  }

  watch(onChange: (on: boolean) => void, onError?: (e: unknown) => void): () => void {
    if (this.interrupts) {
      try {
        // epoll on the value file: the kernel wakes it on each edge (sysfs-gpio ABI, "edge")
        this.gpio.watch((err, v) => (err ? onError?.(err) : onChange(v === 1)));
        onChange(this.gpio.readSync() === 1);
        return () => this.gpio.unwatchAll();
      } catch {
        // epoll refuses a file it cannot poll (EPERM): read the line through onoff instead. unwatchAll() empties
        // onoff's listener list before its epoll remove fails, so unexport() later closes the line properly
        try {
          this.gpio.unwatchAll();
        } catch {
          // the fd was never added
        }
      }
    }
    this.stopPoll = pollInput(async () => (await this.gpio.read()) === 1, onChange, onError);
    return this.stopPoll;
  }

  async close(): Promise<void> {
    this.stopPoll?.();
    // a LED is left off, not at whatever step of its pattern the agent stopped (the level stays after unexport)
    if (this.output) await this.gpio.write(0).catch(() => undefined);
    try {
      this.gpio.unexport();
    } catch {
      // already released
    }
  }
}

/** Sysfs lines under `root`; through onoff only on the real /sys/class/gpio (onoff's path is fixed). */
export function sysfsBackend(root: string, onoff: OnoffModule | string): GpioBackend {
  const viaOnoff = typeof onoff !== 'string' && root === SYSFS_GPIO;
  const open = async (ref: LineRef, output: boolean): Promise<GpioLine> => {
    const n = await globalNumber(root, ref);
    const dir = await exportLine(root, n, ref, output);
    if (!viaOnoff) return new FileLine(dir, output);
    const interrupts = !output && (await exists(join(dir, 'edge')));
    // exported and configured above: onoff opens the line (reconfigureDirection false keeps the level just set)
    const gpio = new (onoff as OnoffModule).Gpio(n, output ? offLevel(ref) : 'in', interrupts ? 'both' : undefined, { activeLow: ref.activeLow, reconfigureDirection: false, debounceTimeout: output ? 0 : 20 });
    return new OnoffLine(gpio, output, interrupts);
  };
  const name = viaOnoff ? 'sysfs (onoff)' : typeof onoff === 'string' ? `sysfs files (onoff did not load: ${onoff})` : `sysfs files (onoff drives ${SYSFS_GPIO} only)`;
  return { name, output: (ref) => open(ref, true), input: (ref) => open(ref, false) };
}

/**
 * Whether sysfs GPIO can be used at `root`: its export file is there (kernels without CONFIG_GPIO_SYSFS have none)
 * and writable (the shipped unit's ProtectKernelTunables=yes mounts /sys read-only; onoff's Gpio.accessible asks the
 * same). Resolves with the reason when it cannot.
 */
export async function sysfsProblem(root: string): Promise<string | undefined> {
  const e = await access(join(root, 'export'), constants.W_OK).then(() => undefined, (err: NodeJS.ErrnoException) => err.code ?? 'EIO');
  if (e === undefined) return undefined;
  if (e === 'ENOENT') return `no sysfs GPIO at ${root} (a kernel without CONFIG_GPIO_SYSFS)`;
  return `${join(root, 'export')} is not writable (${e}${e === 'EROFS' ? ': systemd ProtectKernelTunables=yes, docs/installation.md' : ''})`;
}
