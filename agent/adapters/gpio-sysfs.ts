// Sysfs GPIO (/sys/class/gpio): a line's global number is its chip's base plus the offset, the chip found by its
// label under gpiochipN/ (the base moved to 512+ on Pi kernels 6.6: a fixed number is wrong). Lines are driven with
// onoff (interrupts through epoll) when it loads and the real sysfs is there, else with plain file operations on the
// configured root (tests point it at a folder). onoff stays optional: it is imported dynamically.

import { access, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GpioError, PI_HEADER_CHIPS, type GpioBackend, type GpioLine, type LineRef } from './gpio-port.js';

export const SYSFS_GPIO = '/sys/class/gpio';
const POLL_MS = 100;

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

/** A line through the sysfs files: export, direction, active_low, value. Inputs are polled (no epoll without onoff). */
class FileLine implements GpioLine {
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly dir: string,
    private readonly output: boolean,
  ) {}

  static async open(root: string, n: number, ref: LineRef, output: boolean): Promise<FileLine> {
    const dir = join(root, `gpio${n}`);
    if (!(await access(dir).then(() => true, () => false))) {
      await writeFile(join(root, 'export'), String(n));
      // the kernel creates gpioN at once; udev may take a moment to let us write its files (as onoff waits too)
      for (let i = 0; i < 50 && !(await access(join(dir, 'value')).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 20));
    }
    await writeFile(join(dir, 'active_low'), ref.activeLow ? '1' : '0');
    // "low"/"high" would set the level at once; "out" starts low, which active_low turns into "on": start off instead
    await writeFile(join(dir, 'direction'), output ? (ref.activeLow ? 'high' : 'low') : 'in');
    return new FileLine(dir, output);
  }

  async set(on: boolean): Promise<void> {
    await writeFile(join(this.dir, 'value'), on ? '1' : '0');
  }

  watch(onChange: (on: boolean) => void): () => void {
    let last: boolean | undefined;
    const poll = () =>
      void readFile(join(this.dir, 'value'), 'utf8').then(
        (t) => {
          const on = t.trim() === '1';
          if (on !== last) (last = on), onChange(on);
        },
        () => undefined,
      );
    poll();
    this.timer = setInterval(poll, POLL_MS);
    this.timer.unref();
    return () => clearInterval(this.timer);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    if (this.output) await this.set(false).catch(() => undefined);
  }
}

type OnoffGpio = {
  write(v: 0 | 1): Promise<void>;
  readSync(): 0 | 1;
  watch(cb: (err: Error | null | undefined, v: 0 | 1) => void): void;
  unwatchAll(): void;
  unexport(): void;
};
type OnoffModule = { Gpio: { new (n: number, dir: string, edge?: string, opts?: object): OnoffGpio; accessible: boolean } };

/** onoff, or undefined when it is not installed or its native epoll build does not load here. */
export async function loadOnoff(): Promise<OnoffModule | undefined> {
  try {
    const m = (await import('onoff')) as unknown as OnoffModule & { default?: OnoffModule };
    const Gpio = m.Gpio ?? m.default?.Gpio;
    return Gpio ? { Gpio } : undefined;
  } catch {
    return undefined;
  }
}

class OnoffLine implements GpioLine {
  constructor(private readonly gpio: OnoffGpio) {}
  set(on: boolean): Promise<void> {
    return this.gpio.write(on ? 1 : 0);
  }
  watch(onChange: (on: boolean) => void): () => void {
    onChange(this.gpio.readSync() === 1);
    this.gpio.watch((err, v) => {
      if (!err) onChange(v === 1);
    });
    return () => this.gpio.unwatchAll();
  }
  async close(): Promise<void> {
    try {
      this.gpio.unwatchAll();
      this.gpio.unexport();
    } catch {
      // already released
    }
  }
}

/** Sysfs lines under `root`; through onoff only on the real /sys/class/gpio (onoff knows no other root). */
export function sysfsBackend(root: string, onoff: OnoffModule | undefined): GpioBackend {
  const viaOnoff = onoff !== undefined && root === SYSFS_GPIO && onoff.Gpio.accessible;
  const open = async (ref: LineRef, output: boolean): Promise<GpioLine> => {
    const n = await globalNumber(root, ref);
    if (!viaOnoff) return FileLine.open(root, n, ref, output);
    return new OnoffLine(new onoff!.Gpio(n, output ? (ref.activeLow ? 'high' : 'low') : 'in', output ? 'none' : 'both', { activeLow: ref.activeLow, debounceTimeout: output ? 0 : 20 }));
  };
  return { name: viaOnoff ? 'sysfs (onoff)' : 'sysfs', output: (ref) => open(ref, true), input: (ref) => open(ref, false) };
}

/** Whether sysfs GPIO exists at `root` (it is gone from kernels built without CONFIG_GPIO_SYSFS). */
export async function sysfsAvailable(root: string): Promise<boolean> {
  return access(join(root, 'export')).then(() => true, () => false);
}
