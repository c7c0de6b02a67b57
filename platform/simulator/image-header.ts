// Simulated firmware images (`fota sim image`): a 4 KiB header (magic, JSON facts, CRC) followed by deterministic
// pseudo-random bytes (AES-128-CTR keystream: incompressible, native speed). The booted firmware's version is read
// from the slot's own bytes, so what runs is exactly what was written. Images are streamed, never held in memory.

import { createCipheriv, createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { crc32 } from '../uboot/env-format.js';

export const SIM_HEADER_SIZE = 4096;
const MAGIC = 'FOTASIM1';
const CHUNK = 1024 * 1024;

export interface SimImageHeader {
  /** firmware version the image boots as */
  version: string;
  /** total image size in bytes, header included */
  size: number;
  /** a broken image "never reaches the agent": the simulated kernel fails to boot it */
  broken: boolean;
}

export class SimImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimImageError';
  }
}

/** Builds the 4096-byte header. Throws SimImageError for a bad version or size. */
export function encodeSimImageHeader(h: SimImageHeader): Uint8Array {
  if (!/^[\x21-\x7e]{1,128}$/.test(h.version)) throw new SimImageError(`the firmware version must be 1-128 printable characters without spaces (got "${h.version}")`);
  if (!Number.isSafeInteger(h.size) || h.size < SIM_HEADER_SIZE) throw new SimImageError(`a simulated image needs at least ${SIM_HEADER_SIZE} bytes (got ${h.size})`);
  const json = new TextEncoder().encode(JSON.stringify({ format: 1, version: h.version, size: h.size, broken: h.broken }));
  const buf = new Uint8Array(SIM_HEADER_SIZE);
  buf.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(buf.buffer);
  view.setUint32(8, json.length, true);
  buf.set(json, 12);
  view.setUint32(SIM_HEADER_SIZE - 4, crc32(buf.subarray(0, SIM_HEADER_SIZE - 4)), true);
  return buf;
}

/** Parses a header. Throws SimImageError saying why the bytes are not a simulated image. */
export function decodeSimImageHeader(buf: Uint8Array): SimImageHeader {
  if (buf.length < SIM_HEADER_SIZE) throw new SimImageError(`too short for a simulated image header (${buf.length} of ${SIM_HEADER_SIZE} bytes)`);
  if (new TextDecoder().decode(buf.subarray(0, 8)) !== MAGIC) throw new SimImageError('not a fota simulated image (no FOTASIM1 magic)');
  const view = new DataView(buf.buffer, buf.byteOffset, SIM_HEADER_SIZE);
  if (view.getUint32(SIM_HEADER_SIZE - 4, true) !== crc32(buf.subarray(0, SIM_HEADER_SIZE - 4))) throw new SimImageError('the simulated image header is corrupted (CRC mismatch)');
  const len = view.getUint32(8, true);
  if (len > SIM_HEADER_SIZE - 16) throw new SimImageError('the simulated image header is corrupted (bad length)');
  let facts: Partial<SimImageHeader>;
  try {
    facts = JSON.parse(new TextDecoder().decode(buf.subarray(12, 12 + len))) as Partial<SimImageHeader>;
  } catch {
    throw new SimImageError('the simulated image header is corrupted (unreadable facts)');
  }
  if (typeof facts.version !== 'string' || typeof facts.size !== 'number' || typeof facts.broken !== 'boolean') throw new SimImageError('the simulated image header lacks version, size or broken');
  return { version: facts.version, size: facts.size, broken: facts.broken };
}

/** Reads the header at the start of `path` (an image file or a slot). Throws SimImageError or an fs error. */
export async function readSimImageHeader(path: string): Promise<SimImageHeader> {
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(SIM_HEADER_SIZE);
    const { bytesRead } = await fh.read(buf, 0, SIM_HEADER_SIZE, 0);
    return decodeSimImageHeader(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/**
 * Writes a simulated image of exactly `size` bytes to `out` (created or truncated), streamed in 1 MiB chunks.
 * The bytes after the header depend only on (version, size, broken), so rebuilding an image reproduces it.
 */
export async function makeSimImage(opts: { version: string; size: number; broken?: boolean; out: string }): Promise<SimImageHeader> {
  const header: SimImageHeader = { version: opts.version, size: opts.size, broken: opts.broken ?? false };
  const head = encodeSimImageHeader(header);
  const seed = createHash('sha256').update(`fota-sim|${header.version}|${header.size}|${header.broken}`).digest();
  const cipher = createCipheriv('aes-128-ctr', seed.subarray(0, 16), seed.subarray(16, 32));
  const zeros = new Uint8Array(CHUNK);
  const fh: FileHandle = await open(opts.out, 'w');
  try {
    await writeAll(fh, head, 0);
    for (let at = SIM_HEADER_SIZE; at < header.size; at += CHUNK) {
      const n = Math.min(CHUNK, header.size - at);
      await writeAll(fh, cipher.update(zeros.subarray(0, n)), at);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return header;
}

async function writeAll(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) done += (await fh.write(data, done, data.length - done, position + done)).bytesWritten;
}
