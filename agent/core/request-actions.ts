// What a hub's write or execute does once the object views have turned it into an Action: the request side of the
// daemon, and the confirm-or-revert of a configuration change. Pure core: everything it changes goes through the
// ActionHost the daemon hands it; `record()` (request-log.ts) comes right before the first side effect, and only then.

import type { Response } from '../../protocol/messages.js';
import { transition, type FirmwareEvent, type FirmwareState, type Outcome } from './firmware-machine.js';
import type { Action } from './objects/lw-object.js';
import type { DeviceSettings } from './objects/device-object.js';
import type { ConfigPort, ConfigTrial, Logger } from './ports.js';

export interface ActionHost {
  firmware(): FirmwareState;
  settings(): DeviceSettings;
  config: ConfigPort | undefined;
  logger: Logger;
  dispatch(event: FirmwareEvent): Promise<Outcome>;
  /** saves the settings change; throws an Error saying why when it cannot (nothing changed) */
  updateSettings(patch: Partial<DeviceSettings>): Promise<void>;
  /** reboots shortly, once the answer is out */
  rebootSoon(reason: string): void;
  /** restarts the agent shortly (a new configuration takes effect as a whole) */
  restartSoon(reason: string): void;
  /** restarts the agent now */
  restart(reason: string): Promise<void>;
  /** notifies observers of what changed */
  report(): void;
  /** true once connected (and subscribed) within `timeoutMs`; false at the timeout */
  waitConnected(timeoutMs: number): Promise<boolean>;
  stopping(): boolean;
}

/** An outcome that is accepted and changes the state or starts an effect (else there is nothing to save or record). */
export function changesSomething(prev: FirmwareState, out: Outcome): boolean {
  return !out.rejected && (out.effects.length > 0 || JSON.stringify(out.state) !== JSON.stringify(prev));
}

export async function act(host: ActionHost, id: string, action: Action, record: () => Promise<void>): Promise<Response> {
  switch (action.kind) {
    case 'respond':
      return action.reason === undefined ? { id, code: action.code } : { id, code: action.code, reason: action.reason };
    case 'firmware': {
      // a request the machine refuses or that changes nothing is not recorded (no save for a flood of them)
      if (changesSomething(host.firmware(), transition(host.firmware(), action.event))) await record();
      const out = await host.dispatch(action.event);
      if (!out.rejected) return { id, code: '2.04' };
      return { id, code: out.rejected.code === 'ignored' ? '4.05' : out.rejected.code, reason: out.rejected.reason };
    }
    case 'reboot':
      await record();
      host.rebootSoon('requested by the hub (Object 3 Reboot)');
      return { id, code: '2.04' };
    case 'settings': {
      // the same value again: nothing to save or report
      const settings = host.settings();
      if (Object.entries(action.patch).every(([k, v]) => settings[k as keyof DeviceSettings] === v)) return { id, code: '2.04' };
      await record();
      try {
        await host.updateSettings(action.patch);
      } catch (e) {
        return { id, code: '5.00', reason: (e as Error).message };
      }
      return { id, code: '2.04' };
    }
    case 'config': {
      const config = host.config;
      if (!config) return { id, code: '4.04', reason: 'this agent has no remote configuration' };
      if (host.firmware().phase === 'updating') return { id, code: '4.05', reason: 'an update is being installed; change the configuration when it is done' };
      const problem = config.check(action.patch);
      if (problem !== undefined) return { id, code: '4.00', reason: `configuration refused, nothing changed: ${problem}` };
      await record();
      // validated again and saved in the configuration's own queue: two writes at once both land, each answer true
      const r = await config.apply(action.patch);
      if (r.refused !== undefined) return { id, code: '4.00', reason: `configuration refused, nothing changed: ${r.refused}` };
      // the same values again: nothing saved, no restart
      if (!r.changed) return { id, code: '2.04' };
      host.report();
      // the new configuration takes effect as a whole when the agent starts again (a download resumes), on trial
      host.restartSoon(`configuration changed: ${Object.keys(action.patch).join(', ')}`);
      return { id, code: '2.04' };
    }
  }
}

/**
 * Confirm or revert (as a network manager does): this run tries a configuration change; it is kept once the agent
 * has connected with it, otherwise the agent goes back to the last configuration that connected and restarts.
 */
export async function confirmOrRevert(host: ActionHost, trial: ConfigTrial): Promise<void> {
  const { config, logger } = host;
  if (!config) return;
  const connected = await host.waitConnected(trial.timeoutMs);
  // stopping during the trial: the next start reverts it (a change is started at most once)
  if (host.stopping()) return;
  if (connected) {
    await config.confirm();
    logger.info('configuration change kept: connected with it', { revision: trial.revision, keys: trial.keys });
    host.report();
    return;
  }
  const reason = `the agent did not connect to the broker within ${Math.round(trial.timeoutMs / 1000)} s with it`;
  await config.revert(reason);
  logger.error('configuration change reverted', { revision: trial.revision, keys: trial.keys, reason });
  await host.restart(`configuration revision ${trial.revision} reverted: ${reason}`);
}
