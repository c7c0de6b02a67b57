// The GPIO seam of the status LED and the reset button: a line is set, or watched for changes. Two backends implement
// it — sysfs (gpio-sysfs.ts: onoff where it loads, plain files otherwise) and the libgpiod command-line tools
// (gpio-gpiod.ts, v1 and v2). Lines are named by chip label and offset, never by a global number or a chip index:
// both moved between kernels (the Pi's sysfs base is 512+ on 6.6, its chardev chip became gpiochip0 on the Pi 5).

/** A line: the chip's label ("" = the Raspberry Pi's header chip) and the offset on it. */
export interface LineRef {
  chip: string;
  line: number;
  /** the logical value is the inverse of the level (a LED to 3.3 V, a button to ground) */
  activeLow: boolean;
}

export interface GpioLine {
  /** drives an output to its logical value; rejects on an I/O error */
  set(on: boolean): Promise<void>;
  /**
   * Reports an input's logical value at once, then each change; returns the stop function. onError is called (at
   * most once) when the line can no longer be followed; no more changes come after it.
   */
  watch(onChange: (on: boolean) => void, onError?: (e: unknown) => void): () => void;
  /** releases the line (an output is left off); never throws */
  close(): Promise<void>;
}

export interface GpioBackend {
  /** "sysfs (onoff)", "sysfs", "gpiod v1", "gpiod v2": for the log */
  readonly name: string;
  output(ref: LineRef): Promise<GpioLine>;
  input(ref: LineRef): Promise<GpioLine>;
}

/** The header GPIO chip's label on each Raspberry Pi: Pi 5 (RP1), Pi 4/400/CM4, older. */
export const PI_HEADER_CHIPS = ['pinctrl-rp1', 'pinctrl-bcm2711', 'pinctrl-bcm2835'] as const;

export class GpioError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GpioError';
  }
}
