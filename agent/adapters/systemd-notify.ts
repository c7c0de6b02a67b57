// The sd_notify protocol for a Node process: Node has no AF_UNIX datagram sockets (nodejs/node#29339), so each
// message is sent by systemd-notify(1), run with execFile (argv, no shell). Inert without $NOTIFY_SOCKET.
// systemd-notify (systemd ≥ 246) waits until PID 1 has read the message (sd_notify_barrier), so the message is
// attributed to the unit while the sender lives: with NotifyAccess=all that removes the race of systemd#2737.

import { execFile } from 'node:child_process';
import type { Logger } from '../core/ports.js';

/** The service manager's side channel. Every method is safe to call when not running under systemd (no-op). */
export interface SystemdNotifier {
  /** true when $NOTIFY_SOCKET was set (the unit is Type=notify) */
  readonly enabled: boolean;
  /** the watchdog interval systemd expects pings within (WatchdogSec=), when it is meant for this process */
  readonly watchdogMs: number | undefined;
  /** sends KEY=VALUE lines (READY=1, STATUS=…, WATCHDOG=1, STOPPING=1); resolves once PID 1 read them, never throws */
  notify(fields: Readonly<Record<string, string>>): Promise<boolean>;
}

export interface NotifierOptions {
  logger: Logger;
  /** this process's id: systemd-notify --pid= sends on its behalf where privileges allow, else under its own */
  pid: number;
  /** the systemd-notify executable (default: found on PATH) */
  command?: string;
  /** a systemd-notify that has not returned after this long is killed (default 10 s; its barrier waits ≤ 5 s) */
  timeoutMs?: number;
}

/**
 * Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID and removes them from `env` (sd_notify's
 * unset_environment): the agent's children (health command, fw_setenv, systemctl) must not speak for the unit.
 */
export function systemdNotifierFromEnv(env: NodeJS.ProcessEnv, o: NotifierOptions): SystemdNotifier {
  const socket = env.NOTIFY_SOCKET;
  const usec = Number(env.WATCHDOG_USEC);
  const watchdogPid = env.WATCHDOG_PID;
  delete env.NOTIFY_SOCKET;
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;
  // sd_watchdog_enabled(3): WATCHDOG_PID, when set, names the process the pings are expected from
  const forUs = watchdogPid === undefined || Number(watchdogPid) === o.pid;
  const watchdogMs = socket && forUs && Number.isFinite(usec) && usec > 0 ? usec / 1000 : undefined;
  if (!socket) return { enabled: false, watchdogMs: undefined, notify: async () => false };

  const command = o.command ?? 'systemd-notify';
  const childEnv = { NOTIFY_SOCKET: socket, PATH: env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };
  const reported = new Set<string>();
  return {
    enabled: true,
    watchdogMs,
    notify: (fields) =>
      new Promise((resolve) => {
        // one datagram of newline-separated KEY=VALUE: a value must not contain a newline
        const args = [`--pid=${o.pid}`, ...Object.entries(fields).map(([k, v]) => `${k}=${v.replace(/[\r\n]+/g, ' ')}`)];
        execFile(command, args, { env: childEnv, timeout: o.timeoutMs ?? 10_000, killSignal: 'SIGKILL' }, (err, _out, stderr) => {
          if (!err) return resolve(true);
          const e = err as NodeJS.ErrnoException;
          const why = e.code === 'ENOENT' ? `${command} not found (Debian package systemd)` : String(stderr).trim() || e.message;
          // said once per cause: a failing watchdog ping every few seconds would flood the journal
          if (!reported.has(why)) {
            reported.add(why);
            o.logger.error('could not notify systemd', { error: why, fields: Object.keys(fields) });
          }
          resolve(false);
        });
      }),
  };
}
