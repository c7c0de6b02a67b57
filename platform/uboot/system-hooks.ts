// The small OS-facing pieces a real board's platform needs: the running firmware's version from a file, a reboot
// command run with execFile (never a shell), and a factory image kept as a file.

import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { FotaError } from '../../agent/core/errors.js';
import type { FactoryImage } from './uboot-platform.js';

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

/** A factory image stored as a file, with its version given by configuration. Undefined when the file is gone. */
export function fileFactoryImage(path: string, version: string): () => Promise<FactoryImage | undefined> {
  return async () => {
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    return { size: st.size, version, open: () => createReadStream(path, { highWaterMark: 256 * 1024 }) };
  };
}
