// The agent as a systemd Type=notify service: READY=1 once started, STATUS= on every firmware state change,
// WATCHDOG=1 from the event loop while it keeps up, STOPPING=1 when it stops. All of it inert outside systemd.

import type { Logger } from '../core/ports.js';
import { LoopWatchdog, watchdogTiming } from './loop-watchdog.js';
import { systemdNotifierFromEnv, type NotifierOptions, type SystemdNotifier } from './systemd-notify.js';

export interface SystemdService {
  /** the logger to give the agent: its transitions also become the unit's status line */
  logger: Logger;
  /** READY=1 with a status line; starts nothing (the watchdog runs from the start) */
  ready(status: string): Promise<void>;
  /** STOPPING=1 and no more watchdog pings */
  stopping(): Promise<void>;
}

export function systemdService(env: NodeJS.ProcessEnv, o: NotifierOptions & { notifier?: SystemdNotifier }): SystemdService {
  const notifier = o.notifier ?? systemdNotifierFromEnv(env, o);
  const { logger } = o;
  let watchdog: LoopWatchdog | undefined;
  if (notifier.watchdogMs !== undefined) {
    watchdog = new LoopWatchdog({
      ...watchdogTiming(notifier.watchdogMs),
      ping: () => notifier.notify({ WATCHDOG: '1' }),
      lagging: (lagMs) => logger.warn('event loop stalled: watchdog ping skipped', { lagMs, watchdogSec: notifier.watchdogMs! / 1000 }),
    });
    watchdog.start();
  }
  const status = (text: string) => void notifier.notify({ STATUS: text });
  return {
    logger: notifier.enabled
      ? {
          info: (msg, fields) => logger.info(msg, fields),
          warn: (msg, fields) => logger.warn(msg, fields),
          error: (msg, fields) => logger.error(msg, fields),
          transition: (rec) => {
            logger.transition(rec);
            status(`${rec.to} (${rec.event}${rec.jobId ? `, attempt ${rec.jobId}` : ''}${rec.updateResult ? `, update result ${rec.updateResult}` : ''})`);
          },
        }
      : logger,
    ready: async (text) => {
      await notifier.notify({ READY: '1', STATUS: text });
    },
    stopping: async () => {
      watchdog?.stop();
      await notifier.notify({ STOPPING: '1', STATUS: 'stopping' });
    },
  };
}
