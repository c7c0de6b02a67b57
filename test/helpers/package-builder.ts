// Builds fota packages byte by byte for package-reader tests, laid out like `fota pack` makes them, with every part
// replaceable to make broken or hostile ones (protocol/package-format.ts is the format; docs/package-format.md).

import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { keyIdOf } from '../../agent/adapters/trusted-keys.js';
import { blockRound, payloadOffset, serializeManifest, TAR_BLOCK, ustarHeader, type Manifest, type UstarEntry } from '../../protocol/package-format.js';

/** One tar entry: its header, the data, zero padding to the block. */
export function tarEntry(e: UstarEntry, data: Uint8Array): Buffer {
  return Buffer.concat([ustarHeader(e), data, Buffer.alloc(blockRound(data.length) - data.length)]);
}

/** The entry with `value` written at `offset` of its header (latin1, no terminator added), checksum recomputed. */
export function withHeaderField(entry: Buffer, offset: number, value: string, length = value.length): Buffer {
  const out = Buffer.from(entry);
  out.fill(0, offset, offset + length);
  out.write(value, offset, 'latin1');
  out.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += out[i] as number;
  out.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return out;
}

/** The same tar entry with another magic/version at 257..264 ('' = zeros: a v7 header), checksum recomputed. */
export function withMagic(entry: Buffer, magic: string): Buffer {
  return withHeaderField(entry, 257, magic, 8);
}

export function manifestOf(image: Buffer, key: KeyObject | null, over: Partial<Manifest> = {}, payload: Partial<Manifest['payload']> = {}): Manifest {
  const sha256 = createHash('sha256').update(image).digest('hex');
  const m: Manifest = { format: 1, name: 'acme-rootfs', version: '3.0.0', deviceTypes: ['fota-sim'], payload: { name: 'rootfs.img', size: image.length, sha256, compression: 'none', ...payload }, ...over };
  if (key && over.keyId === undefined) m.keyId = keyIdOf(key);
  return m;
}

export interface Build {
  image: Buffer;
  /** the signing key (private); null: unsigned */
  key: KeyObject | null;
  manifest?: Manifest;
  /** replaces the manifest text (signed as it is) */
  manifestText?: string;
  /** the payload entry's data as stored (default: the image) */
  stored?: Buffer;
  /** what follows the payload entry (default: the two end-of-archive blocks) */
  end?: Buffer;
}

export interface Built {
  pkg: Buffer;
  manifestText: string;
  /** byte offset of the payload's first data byte */
  offset: number;
  parts: { manifest: Buffer; signature: Buffer | undefined; payload: Buffer; end: Buffer };
}

/** A package laid out like `fota pack` makes it (the key's public half must be trusted to accept it). */
export function buildPackage(b: Build): Built {
  const m = b.manifest ?? manifestOf(b.image, b.key ? publicOf(b.key) : null);
  const text = b.manifestText ?? serializeManifest(m);
  const bytes = Buffer.from(text);
  const sig = b.key ? sign(null, bytes, b.key) : null;
  const stored = b.stored ?? b.image;
  const manifest = tarEntry({ name: 'manifest.json', size: bytes.length }, bytes);
  const signature = sig ? tarEntry({ name: 'manifest.sig', size: 64 }, sig) : undefined;
  const payload = tarEntry({ name: m.payload.name, size: stored.length }, stored);
  const end = b.end ?? Buffer.alloc(1024);
  return { pkg: Buffer.concat([manifest, ...(signature ? [signature] : []), payload, end]), manifestText: text, offset: payloadOffset(bytes.length, sig !== null), parts: { manifest, signature, payload, end } };
}

/** the public half of a private key (keyId is over the public key) */
const publicOf = (key: KeyObject): KeyObject => (key.type === 'private' ? createPublicKey(key) : key);

/** The package as a network would deliver it: fresh buffers of `size` bytes. */
export async function* chunks(buf: Buffer, size = 7919): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < buf.length; i += size) yield Buffer.from(buf.subarray(i, i + size));
}
