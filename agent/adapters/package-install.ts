// Agent side of the fota package format: streams a package (an AsyncIterable of bytes) through node-tar's Parser
// into the inactive slot. Manifest, signature, compatibility and size are checked before the first payload byte
// reaches the slot; the payload is hashed on the way. Never derives a path from an entry; never buffers the payload
// (memory is bounded by a few source chunks). Format: protocol/package-format.ts, docs/package-format.md.

import { createHash, verify, type KeyObject } from 'node:crypto';
import { keyIdOf } from './trusted-keys.js';
import { Parser, type ReadEntry } from 'tar';
import {
  END_OF_ARCHIVE_BYTES,
  MANIFEST_ENTRY,
  MAX_MANIFEST_BYTES,
  SIGNATURE_BYTES,
  TAR_BLOCK,
  blockRound,
  checkPayloadEntrySize,
  classifyEntry,
  parseManifest,
  payloadOffset,
  ustarHeaderProblem,
  type EntryRole,
  type Manifest,
} from '../../protocol/package-format.js';
import type { PackageInfo, SlotWriter } from '../core/ports.js';
import { FotaError } from '../core/errors.js';
import { checkVersionPolicy, type VersionPolicy } from '../core/version-policy.js';
import { Channel, PayloadSink, Session, Trailer, gunzip, mismatch, unsupported, type ResumePoint, type StreamOptions } from './package-stream.js';

export type { ResumePoint } from './package-stream.js';
export { keyIdOf } from './trusted-keys.js';

/** The inactive slot as the reader sees it. */
export interface SlotAccess {
  /** bytes */
  capacity(): Promise<number>;
  open(opts: { size: number; offset?: number; sha256?: string }): Promise<SlotWriter>;
  /** the first `length` bytes of the slot */
  read(length: number): AsyncIterable<Uint8Array>;
}

/** Also progress, checkpoint, checkpointBytes and signal: see StreamOptions (package-stream.ts). */
export interface InstallOptions extends StreamOptions {
  deviceType: string;
  /** Ed25519 public keys */
  trustedKeys: readonly KeyObject[];
  /** keyIds the configuration retired (not in trustedKeys): a package naming one is refused as signed by a retired key */
  retiredKeyIds?: readonly string[];
  allowUnsigned: boolean;
  slot: SlotAccess;
  /** anti-rollback (agent/core/version-policy.ts); absent: any version */
  policy?: VersionPolicy;
}

/** the payload header must start within this many bytes: a maximal manifest, a signature, their headers */
const HEADER_REGION_MAX = payloadOffset(MAX_MANIFEST_BYTES, true);

/**
 * Verifies the manifest signature against the trusted keys. No signature: `unsigned-package` unless allowed.
 * A signature that verifies against none: `signature-invalid` when the manifest's keyId names a trusted key (the
 * manifest or signature was altered), `untrusted-key` otherwise. A present signature is checked even when unsigned
 * packages are allowed. Returns the keyId that verified, or null for an accepted unsigned package.
 */
export function checkSignature(m: Manifest, manifestBytes: Uint8Array, signature: Uint8Array | null, opts: Pick<InstallOptions, 'trustedKeys' | 'allowUnsigned' | 'retiredKeyIds'>): string | null {
  const what = `package ${m.name} ${m.version}`;
  if (signature === null) {
    if (opts.allowUnsigned) return null;
    throw new FotaError('unsigned-package', `${what} is not signed (no manifest.sig); build it with \`fota pack --key\`, or allow unsigned packages on this device`);
  }
  for (const key of opts.trustedKeys) if (verify(null, manifestBytes, key, signature)) return keyIdOf(key);
  const trusted = opts.trustedKeys.map(keyIdOf);
  if (m.keyId !== undefined && trusted.includes(m.keyId)) {
    throw new FotaError('signature-invalid', `${what}: the signature does not match the manifest for trusted key ${m.keyId}; the manifest or its signature was altered — rebuild the package`);
  }
  if (m.keyId !== undefined && opts.retiredKeyIds?.includes(m.keyId)) {
    throw new FotaError('untrusted-key', `${what} is signed by key ${m.keyId}, which was retired on this device (retiredKeys); re-sign it with a current key (trusted: ${trusted.join(', ') || 'none'})`);
  }
  throw new FotaError('untrusted-key', `${what} is signed by key ${m.keyId ?? '(no keyId in the manifest)'}, which this device does not trust (trusted: ${trusted.join(', ') || 'none'}); add its public key or re-sign the package`);
}

/** Every check that precedes the first payload byte, except the tar layout: signature, device type, version, capacity. */
async function admit(m: Manifest, manifestBytes: Uint8Array, signature: Uint8Array | null, opts: InstallOptions): Promise<void> {
  checkSignature(m, manifestBytes, signature, opts);
  if (!m.deviceTypes.includes(opts.deviceType)) {
    throw new FotaError('incompatible-device', `package ${m.name} ${m.version} is for device types ${m.deviceTypes.join(', ')}, not "${opts.deviceType}"`);
  }
  // the version is read from the verified manifest only: an unsigned claim cannot get past the floor
  if (opts.policy) checkVersionPolicy(m, opts.policy);
  const capacity = await opts.slot.capacity();
  if (m.payload.size > capacity) throw new FotaError('no-space', `the image is ${m.payload.size} bytes but the inactive slot holds ${capacity}`);
}

function decodeManifest(bytes: Uint8Array): Manifest {
  try {
    return parseManifest(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes));
  } catch (e) {
    throw unsupported(`invalid ${MANIFEST_ENTRY}: ${(e as Error).message}`, e);
  }
}

/** A Session for these options, once the trusted keys are known to be Ed25519 public keys (else TypeError). */
function startSession(opts: InstallOptions): Session<InstallOptions> {
  for (const k of opts.trustedKeys) {
    if (k.type !== 'public' || k.asymmetricKeyType !== 'ed25519') throw new TypeError('trustedKeys must be Ed25519 public keys');
  }
  return new Session(opts);
}

/** Reads a package from its first byte: the tar layout, the manifest, the signature, then the payload. */
class Installer {
  readonly #parser: Parser;
  #roles: EntryRole[] = [];
  #manifestBytes: Buffer | undefined;
  #manifest: Manifest | undefined;
  #signature: Buffer | null = null;
  #fed = 0;
  /** the pieces of the header-region block being fed (pieces never cross a block boundary there) */
  #block: Buffer[] = [];
  /** the current entry's padding (after its data, up to the block boundary): it must be zeros */
  #padding = { from: 0, to: 0 };
  #payloadEnd: number | undefined;
  #channel: Channel | undefined;
  #consumer: Promise<PackageInfo> | undefined;
  /** resolves once the whole package was read and what follows the payload checked (run() below) */
  #readAll!: () => void;
  readonly #complete = new Promise<void>((resolve) => (this.#readAll = resolve));

  constructor(private readonly s: Session<InstallOptions>) {
    this.#parser = new Parser({ strict: true, maxMetaEntrySize: 4096, zstd: false, brotli: false, onReadEntry: (e) => this.#guard(() => this.#onEntry(e)) });
    this.#parser.on('error', (e: Error) => s.fail(unsupported(`malformed tar archive: ${e.message}`, e)));
    this.#parser.on('ignoredEntry', (e: ReadEntry) => s.fail(unsupported(`entry ${JSON.stringify(e.path)} of type ${e.type} is not allowed in a fota package`)));
  }

  /** errors thrown inside parser callbacks do not surface anywhere useful (isaacs/node-tar#181): route them */
  #guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.s.fail(e instanceof FotaError ? e : unsupported((e as Error).message, e));
    }
  }

  #onEntry(entry: ReadEntry): void {
    // the parser emits an entry while it is fed the last piece of its header block: that block is #block
    const problem = ustarHeaderProblem(Buffer.concat(this.#block));
    if (problem !== undefined) throw unsupported(`entry ${JSON.stringify(entry.path.slice(0, 120))} has ${problem}`);
    // the header was just fed: the entry's data starts here
    this.#padding = { from: this.#fed + entry.size, to: this.#fed + blockRound(entry.size) };
    const extended = entry.extended != null || entry.globalExtended != null;
    const role = classifyEntry(this.#roles, { name: entry.path, type: entry.type, size: entry.size, extended }, this.#manifest);
    this.#roles.push(role);
    if (role === 'payload') return this.#onPayload(entry);
    const chunks: Buffer[] = [];
    entry.on('data', (c: Buffer) => chunks.push(c));
    entry.on('end', () =>
      this.#guard(() => {
        const bytes = Buffer.concat(chunks);
        if (role === 'signature') this.#signature = bytes;
        else [this.#manifestBytes, this.#manifest] = [bytes, decodeManifest(bytes)];
      }),
    );
  }

  #onPayload(entry: ReadEntry): void {
    const m = this.#manifest as Manifest;
    // headers are fed one block at a time, so the parser stands right after the payload header
    const offset = payloadOffset((this.#manifestBytes as Buffer).length, this.#signature !== null);
    if (this.#fed !== offset) throw unsupported(`payload data starts at byte ${this.#fed}, not ${offset} as the strict layout requires`);
    this.#payloadEnd = offset + blockRound(entry.size);
    const channel = (this.#channel = new Channel());
    entry.on('data', (c: Buffer) => channel.push(c));
    entry.on('end', () => channel.close());
    this.#consumer = this.#consume(m, entry.size, channel, offset);
    this.#consumer.catch((e: unknown) => this.s.fail(e));
  }

  async #consume(m: Manifest, entrySize: number, channel: Channel, offset: number): Promise<PackageInfo> {
    const manifestBytes = this.#manifestBytes as Buffer;
    await admit(m, manifestBytes, this.#signature, this.s.opts);
    try {
      checkPayloadEntrySize(m, entrySize);
    } catch (e) {
      throw unsupported((e as Error).message, e);
    }
    const writer = await this.s.open(m.payload.size, 0, m.payload.sha256);
    const point = { manifest: manifestBytes.toString('utf8'), signature: this.#signature?.toString('base64') ?? null, payloadOffset: offset };
    const sink = new PayloadSink(m, writer, this.s.opts, point, createHash('sha256'), 0);
    for await (const c of m.payload.compression === 'gzip' ? gunzip(channel) : channel) await this.s.track(() => sink.write(c));
    // the slot is finished (synced, accepted) only for a whole, well-formed package: not when what follows the
    // payload turns out to be hostile (data, an unending stream of zeros, no end-of-archive blocks)
    await this.s.orFailure(this.#complete);
    return this.s.track(() => sink.finish());
  }

  /** tar readers skip an entry's padding: anything but zeros there is data hidden from them (as after the payload) */
  #checkPadding(piece: Buffer): void {
    const at = this.#fed;
    const { from, to } = this.#padding;
    for (let i = Math.max(from, at); i < Math.min(to, at + piece.length); i++) {
      if (piece[i - at] !== 0) throw unsupported(`byte ${i}, in the padding after an entry's data, is not zero; a fota package hides nothing in tar padding`);
    }
  }

  async run(source: AsyncIterable<Uint8Array>): Promise<PackageInfo> {
    const trailer = new Trailer();
    // bytes held back from the parser until more arrive (see below); never more than a tar block
    let carry: Buffer | undefined;
    for (let next = await this.s.next(source); next; next = await this.s.next(source)) {
      let chunk = carry ? Buffer.concat([carry, next]) : next;
      carry = undefined;
      // node-tar would inflate a compressed archive by itself (gzip, zstd magic): a package is a plain tar
      if (this.#fed === 0 && (chunk[0] === 0x1f || chunk[0] === 0x28)) {
        throw unsupported('not a fota package: it looks compressed as a whole; a package is a plain tar (compress the payload with `fota pack --gzip` instead)');
      }
      while (chunk.length > 0) {
        if (this.#payloadEnd !== undefined && this.#fed >= this.#payloadEnd) {
          trailer.add(chunk);
          break;
        }
        // headers go in up to the next block boundary, so the parser reads each header exactly when #fed reaches it
        const take = this.#payloadEnd === undefined ? TAR_BLOCK - (this.#fed % TAR_BLOCK) : this.#payloadEnd - this.#fed;
        const missing = take - chunk.length;
        if (this.#payloadEnd !== undefined && missing > 0 && missing < TAR_BLOCK) {
          // node-tar consumes a piece shorter than a block only together with later bytes; the payload's last
          // piece must therefore be a block or more, or the parser waits for bytes that never come (the trailer
          // is not fed) and calls the archive truncated. The network may cut anywhere: hold the tail back.
          const hold = Math.min(chunk.length, TAR_BLOCK - missing);
          carry = chunk.subarray(chunk.length - hold);
          chunk = chunk.subarray(0, chunk.length - hold);
          if (chunk.length === 0) break;
        }
        const piece = chunk.subarray(0, take);
        chunk = chunk.subarray(piece.length);
        if (this.#payloadEnd === undefined) {
          if (this.#fed % TAR_BLOCK === 0) this.#block = [];
          this.#block.push(piece);
        }
        this.#checkPadding(piece);
        this.#fed += piece.length;
        if (this.#payloadEnd === undefined && this.#fed > HEADER_REGION_MAX) throw unsupported(`no payload entry within the first ${HEADER_REGION_MAX} bytes`);
        this.#parser.write(piece);
        this.s.check();
        if (this.#channel) await this.s.orFailure(this.#channel.idle());
        this.s.check();
      }
    }
    this.s.check();
    if (this.#payloadEnd === undefined || this.#consumer === undefined) {
      throw unsupported(`the package is truncated after ${this.#fed} bytes, before its payload (entries seen: ${this.#roles.join(', ') || 'none'})`);
    }
    if (this.#fed < this.#payloadEnd) throw mismatch(`the package is truncated: the payload entry ends ${this.#payloadEnd - this.#fed - (carry?.length ?? 0)} bytes early`);
    trailer.finish(END_OF_ARCHIVE_BYTES);
    this.#parser.end();
    this.#readAll();
    return this.#consumer;
  }
}

/**
 * Installs a package read from its first byte. Resolves after the payload is in the slot, synced, and its SHA-256
 * and size match. Rejects with FotaError (codes: unsupported-package, unsigned-package, untrusted-key,
 * signature-invalid, incompatible-device, no-space, integrity-mismatch, io-error) or an AbortError. The source
 * must not reuse a chunk's memory after yielding it.
 */
export function installPackage(source: AsyncIterable<Uint8Array>, opts: InstallOptions): Promise<PackageInfo> {
  return (async () => {
    const s = startSession(opts);
    return s.run(() => new Installer(s).run(source));
  })();
}

function readPoint(p: ResumePoint): { bytes: Buffer; signature: Buffer | null } {
  const int = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  const ok = typeof p?.manifest === 'string' && (p.signature === null || typeof p.signature === 'string') && int(p.payloadOffset) && int(p.written) && (p.writtenSha256 === undefined || typeof p.writtenSha256 === 'string');
  const signature = typeof p?.signature === 'string' ? Buffer.from(p.signature, 'base64') : null;
  if (!ok || (signature && signature.length !== SIGNATURE_BYTES)) throw unsupported('the saved resume point is malformed; download the package again from its first byte');
  return { bytes: Buffer.from(p.manifest, 'utf8'), signature };
}

/**
 * Continues an interrupted install: `source` yields the package from byte point.payloadOffset + point.written.
 * Re-verifies the manifest signature (current trusted keys), compatibility and capacity, re-hashes the first
 * point.written bytes of the slot (a slot changed since the checkpoint is an integrity-mismatch), then appends.
 * Only for compression "none". Rejects like installPackage.
 */
export function resumePackage(source: AsyncIterable<Uint8Array>, point: ResumePoint, opts: InstallOptions): Promise<PackageInfo> {
  return (async () => {
    const s = startSession(opts);
    return s.run(async () => {
      const { bytes, signature } = readPoint(point);
      const m = decodeManifest(bytes);
      if (m.payload.compression !== 'none') throw unsupported(`a ${m.payload.compression} payload cannot be resumed; download the package again from its first byte`);
      const expected = payloadOffset(bytes.length, signature !== null);
      if (point.payloadOffset !== expected) throw unsupported(`the resume point puts the payload at byte ${point.payloadOffset}, the manifest at ${expected}; download again`);
      await admit(m, bytes, signature, opts);
      const size = m.payload.size;
      if (point.written > size) throw unsupported(`the resume point says ${point.written} bytes were written, more than the ${size}-byte payload`);
      // the bytes already in the slot are hashed now when the point has their digest (found changed before the rest is
      // downloaded); without one, the point was made for a writer that checks the image, whose read-back covers them
      const hash = createHash('sha256');
      if (point.writtenSha256 !== undefined) {
        let read = 0;
        for await (const c of opts.slot.read(point.written)) {
          s.check();
          hash.update(c);
          read += c.length;
        }
        if (read !== point.written) throw new FotaError('io-error', `read back ${read} of the ${point.written} bytes already in the slot`);
        if (hash.copy().digest('hex') !== point.writtenSha256) {
          throw mismatch(`the first ${point.written} bytes in the slot changed since the checkpoint; download the package again from its first byte`);
        }
      }
      const writer = await s.open(size, point.written, m.payload.sha256);
      if (point.writtenSha256 === undefined && !writer.checksImage) throw mismatch('the saved resume point has no digest of the bytes already in the slot, and this slot does not check the image; download the package again from its first byte');
      const sink = new PayloadSink(m, writer, opts, { manifest: point.manifest, signature: point.signature, payloadOffset: expected }, hash, point.written);
      const trailer = new Trailer();
      for (let chunk = await s.next(source); chunk; chunk = await s.next(source)) {
        const take = Math.min(size - sink.written, chunk.length);
        if (take > 0) await s.track(() => sink.write(chunk.subarray(0, take)));
        if (take < chunk.length) trailer.add(chunk.subarray(take));
      }
      s.check();
      if (sink.written < size) throw mismatch(`the package is truncated: the payload ended after ${sink.written} of ${size} bytes`);
      trailer.finish(blockRound(size) - size + END_OF_ARCHIVE_BYTES);
      return s.track(() => sink.finish());
    });
  })();
}
