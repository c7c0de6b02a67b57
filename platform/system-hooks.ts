// The small OS-facing pieces a real board's platform needs: the running firmware's version from a file, and a reboot
// command run with execFile (never a shell).

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { FotaError } from '../agent/core/errors.js';

/**
 * Reads the running firmware's version from `path`: the VERSION_ID of an os-release style file, otherwise its
 * first non-empty line. Resolves "" when the file is missing or empty.
 */
export async function readFirmwareVersion(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const id = /^VERSION_ID=(.*)$/m.exec(text);
  if (id) return id[1]!.trim().replace(/^(["'])(.*)\1$/, '$2');
  return text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
}

/** Runs `argv` (e.g. ["systemctl", "reboot"]); resolves when it exits 0, else FotaError('io-error'). */
export function commandReboot(argv: readonly string[]): (reason: string) => Promise<void> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('the reboot command is empty');
  return () =>
    new Promise((resolve, reject) => {
      execFile(cmd, args, { timeout: 30_000 }, (err, _stdout, stderr) => {
        if (err) reject(new FotaError('io-error', `reboot command "${argv.join(' ')}" failed: ${String(stderr).trim() || err.message}`, { cause: err }));
        else resolve();
      });
    });
}
