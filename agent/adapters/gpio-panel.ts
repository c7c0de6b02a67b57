// The device's front panel: the status LED and the factory-reset button on GPIO lines from the configuration. Opens
// the backend (sysfs through onoff or files, else the libgpiod tools), follows the firmware state for the LED, and
// calls onHeld when the button was held. Without GPIO, or with a line that cannot be opened, the agent runs without
// them and says so once. Nothing here can fail the agent.

import { deviceStatus, type DeviceStatus } from '../core/device-status.js';
import type { FirmwareState } from '../core/firmware-machine.js';
import type { Logger } from '../core/ports.js';
import { DEFAULT_GPIOD_TOOLS, gpiodBackend, type GpiodTools } from './gpio-gpiod.js';
import type { GpioBackend } from './gpio-port.js';
import { loadOnoff, sysfsBackend, sysfsProblem } from './gpio-sysfs.js';
import { PATTERNS, ResetButton, StatusLed, type Timers } from './gpio-status.js';

export interface PanelConfig {
  backend: 'auto' | 'sysfs' | 'gpiod';
  sysfsRoot: string;
  led: { line: number; chip: string; activeLow: boolean };
  button: { line: number; chip: string; activeLow: boolean; holdSec: number };
}

export interface PanelDeps {
  logger: Logger;
  /** subscribes to the firmware state (Daemon.watch); returns the unsubscribe function */
  watch(fn: (s: FirmwareState) => void): () => void;
  /** the state now */
  current(): FirmwareState;
  /** the button was held: start a factory reset the normal way */
  onHeld(): void;
  gpiodTools?: GpiodTools;
  timers?: Timers;
}

export interface Panel {
  readonly backend: string;
  close(): Promise<void>;
}

/** The backend the configuration asks for, or undefined (with the reason) when this board has none. */
export async function openBackend(cfg: PanelConfig, tools: GpiodTools = DEFAULT_GPIOD_TOOLS): Promise<GpioBackend | string> {
  const sysfs = cfg.backend === 'gpiod' ? 'gpio.backend is "gpiod"' : await sysfsProblem(cfg.sysfsRoot);
  if (sysfs === undefined) return sysfsBackend(cfg.sysfsRoot, await loadOnoff());
  if (cfg.backend === 'sysfs') return `${sysfs}; try gpio.backend "gpiod"`;
  return (await gpiodBackend(tools)) ?? `${sysfs}, and no libgpiod tools (install gpiod)`;
}

/** Starts the panel; resolves with what runs (maybe nothing). Never rejects. */
export async function startPanel(cfg: PanelConfig, deps: PanelDeps): Promise<Panel | undefined> {
  const wantLed = cfg.led.line >= 0;
  const wantButton = cfg.button.line >= 0;
  if (!wantLed && !wantButton) return undefined;
  const backend = await openBackend(cfg, deps.gpiodTools).catch((e: unknown) => String(e));
  if (typeof backend === 'string') {
    deps.logger.warn('running without the status LED and reset button: no GPIO on this board', { reason: backend });
    return undefined;
  }
  const closers: (() => Promise<void>)[] = [];
  if (wantLed) {
    try {
      const led = new StatusLed(await backend.output(cfg.led), (e) => deps.logger.warn('the status LED failed; it stays off', { error: String(e) }), deps.timers);
      let shown: DeviceStatus | undefined;
      const show = (s: FirmwareState) => {
        const status = deviceStatus(s);
        if (status === shown) return;
        shown = status;
        // one line per change of pattern: what a person at the board sees, for `journalctl -u fota-agent`
        deps.logger.info('status LED', { status, pattern: PATTERNS[status] });
        led.show(status);
      };
      show(deps.current());
      const unwatch = deps.watch(show);
      closers.push(async () => (unwatch(), led.close()));
    } catch (e) {
      deps.logger.warn('running without the status LED', { backend: backend.name, error: String(e) });
    }
  }
  if (wantButton) {
    try {
      const button = new ResetButton(await backend.input(cfg.button), cfg.button.holdSec * 1000, deps.onHeld, deps.timers, (e) =>
        deps.logger.warn('the reset button is no longer followed', { backend: backend.name, error: String(e) }),
      );
      button.start();
      closers.push(() => button.close());
    } catch (e) {
      deps.logger.warn('running without the reset button', { backend: backend.name, error: String(e) });
    }
  }
  deps.logger.info('front panel', { backend: backend.name, led: wantLed ? cfg.led : 'none', button: wantButton ? cfg.button : 'none' });
  return { backend: backend.name, close: async () => void (await Promise.allSettled(closers.map((c) => c()))) };
}
