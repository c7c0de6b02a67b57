// The factory image a Factory Reset (Object 3 /3/0/5) installs: a file, or a read-only partition kept for it. It goes
// through the same path as an update (inactive slot, read-back check, trial boot, commit), so a bad factory image
// is rolled back by the bootloader like any bad update. With a configured SHA-256 a corrupted copy fails the flash.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { FotaError } from '../agent/core/errors.js';
import { deviceSize } from './slots/device-size.js';

export interface FactoryImage {
  size: number;
  version: string;
  /** hex SHA-256 of the image when configured: the slot's read-back is checked against it */
  sha256?: string;
  open(): AsyncIterable<Uint8Array>;
}

export interface FactoryImageOptions {
  /** a regular file or a block device (a partition holding the image at its start) */
  path: string;
  version: string;
  /** bytes of the image; default: the file's length, or the whole partition */
  size?: number;
  /** hex SHA-256 of those bytes; when set, a copy that does not hash to it fails the flash (integrity-mismatch) */
  sha256?: string;
}

async function* verified(path: string, size: number, sha256: string | undefined): AsyncIterable<Uint8Array> {
  const hash = sha256 ? createHash('sha256') : undefined;
  let got = 0;
  for await (const c of createReadStream(path, { start: 0, end: size - 1, highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    hash?.update(c);
    got += c.length;
    yield c;
  }
  if (got !== size) throw new FotaError('integrity-mismatch', `the factory image ${path} ended after ${got} of its ${size} bytes`);
  const actual = hash?.digest('hex');
  if (sha256 && actual !== sha256.toLowerCase()) throw new FotaError('integrity-mismatch', `the factory image ${path} hashes to ${actual}, not the configured ${sha256}; it is corrupted — restore it before a factory reset`);
}

/** The factory image at `path`, or undefined when it is gone (Factory Reset then answers 4.05). */
export function factoryImageSource(opts: FactoryImageOptions): () => Promise<FactoryImage | undefined> {
  return async () => {
    const st = await stat(opts.path).catch(() => undefined);
    if (!st || !(st.isFile() || st.isBlockDevice())) return undefined;
    const available = st.isFile() ? st.size : await deviceSize(opts.path).catch(() => 0);
    const size = opts.size ?? available;
    if (size <= 0 || size > available) return undefined;
    return { size, version: opts.version, ...(opts.sha256 ? { sha256: opts.sha256.toLowerCase() } : {}), open: () => verified(opts.path, size, opts.sha256) };
  };
}
