// Wires the front panel (agent/adapters/gpio-panel.ts) to a running agent: the LED follows the daemon's firmware
// state, and a held reset button starts a Factory Reset by the same event as the hub's Execute /3/0/5, so it takes
// the same path (the factory image into the inactive slot, read-back, trial boot, health check, commit or rollback).

import { randomUUID } from 'node:crypto';
import type { AgentConfig } from './config.js';
import type { Daemon } from './core/daemon.js';
import type { Logger, PlatformAdapter } from './core/ports.js';
import { startPanel, type Panel } from './adapters/gpio-panel.js';

/** Starts a Factory Reset as /3/0/5 would. Resolves with why nothing started, or undefined once it did. */
export async function localFactoryReset(daemon: Daemon, platform: PlatformAdapter, logger: Logger, source: string): Promise<string | undefined> {
  const image = await platform.factoryImage().catch(() => undefined);
  const why = !image
    ? 'this platform keeps no factory image (platform.options.factoryImage)'
    : (await daemon.dispatch({ type: 'factory-reset-executed', attemptId: randomUUID(), at: Date.now() })).rejected?.reason;
  if (why) logger.warn(`${source}: no factory reset`, { reason: why });
  else logger.info(`${source}: factory reset started`, { version: image!.version });
  return why;
}

export function startFrontPanel(cfg: AgentConfig, agent: { daemon: Daemon; platform: PlatformAdapter }, logger: Logger): Promise<Panel | undefined> {
  return startPanel(cfg.gpio, {
    logger,
    watch: (fn) => agent.daemon.watch(fn),
    current: () => agent.daemon.firmware,
    onHeld: () =>
      void localFactoryReset(agent.daemon, agent.platform, logger, `reset button held ${cfg.gpio.button.holdSec} s`).catch((e: unknown) =>
        logger.warn('reset button: the factory reset could not start', { error: String(e) }),
      ),
  });
}
