// HealthProbe port: runs the configured health command (argv, no shell) with a timeout.
// Exit status 0 = healthy; anything else fails the trial boot with the command's last stderr line as the reason.

import { execFile } from 'node:child_process';
import type { HealthProbe } from '../core/ports.js';

export function healthCommand(argv: readonly string[], timeoutMs: number): HealthProbe {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('health command is empty');
  return {
    run: (signal) =>
      new Promise((resolve) => {
        execFile(file, args, { timeout: timeoutMs, signal, maxBuffer: 256 * 1024 }, (err, _stdout, stderr) => {
          if (!err) return resolve({ ok: true });
          const last = String(stderr).trim().split('\n').pop()?.slice(0, 300) ?? '';
          const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
          const why =
            e.code === 'ENOENT'
              ? `health command ${file} not found`
              : e.killed
                ? `health command ${file} did not finish within ${Math.round(timeoutMs / 1000)} s`
                : `health command ${file} exited with ${String(e.code)}`;
          resolve({ ok: false, reason: last ? `${why}: ${last}` : why });
        });
      }),
  };
}
