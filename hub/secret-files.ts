// What a package server must never hand out: private keys. A file is refused when its name ends in .key or its
// content parses as a private key (PEM of any kind, OpenSSH, or PKCS#8/PKCS#1/SEC1 DER), whatever it is called.
// Packages are large and keys small: only files up to MAX_KEY_BYTES are read to look.

import { createPrivateKey } from 'node:crypto';
import { open, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

const MAX_KEY_BYTES = 64 * 1024;

function parsesAsPrivateKey(bytes: Buffer): boolean {
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(bytes.toString('latin1'))) return true;
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      createPrivateKey({ key: bytes, format: 'der', type });
      return true;
    } catch {
      // not this encoding
    }
  }
  return false;
}

/** Why `file` (of `size` bytes) must not be served, or undefined when it may be. */
export async function secretReason(file: string, size: number): Promise<string | undefined> {
  if (/\.key$/i.test(file)) return 'its name ends in .key';
  if (size > MAX_KEY_BYTES || size === 0) return undefined;
  const fh = await open(file, 'r').catch(() => undefined);
  if (!fh) return undefined;
  try {
    const buf = Buffer.alloc(size);
    const { bytesRead } = await fh.read(buf, 0, size, 0);
    return parsesAsPrivateKey(buf.subarray(0, bytesRead)) ? 'it is a private key' : undefined;
  } finally {
    await fh.close();
  }
}

/** Private keys under `dir` (relative paths with the reason), looking at up to `limit` files. */
export async function findSecretFiles(dir: string, limit = 10_000): Promise<{ path: string; reason: string }[]> {
  const found: { path: string; reason: string }[] = [];
  let seen = 0;
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (++seen > limit) return;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        const { size } = await stat(p).catch(() => ({ size: 0 }));
        const reason = await secretReason(p, size);
        if (reason) found.push({ path: relative(dir, p), reason });
      }
    }
  };
  await walk(dir);
  return found;
}
