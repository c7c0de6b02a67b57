// fota package tooling for the operator: Ed25519 key files and `pack` (hashes the image in one streaming pass, then
// streams it into a strict ustar archive); `inspect` is in package-inspect.ts. Never holds an image in memory.
// Format: docs/package-format.md.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Readable, Transform, Writable, pipeline } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import {
  END_OF_ARCHIVE_BYTES,
  ManifestError,
  SIGNATURE_ENTRY,
  MANIFEST_ENTRY,
  blockRound,
  parseManifest,
  serializeManifest,
  ustarHeader,
  type Manifest,
} from '../../protocol/package-format.js';

/** A failure to show the operator as is (bad input, a file in the way); anything else is a bug. */
export class PackageToolError extends Error {
  override name = 'PackageToolError';
}

const CHUNK = 1024 * 1024;

/** keyId: first 16 hex digits of SHA-256 over the public key's SPKI DER encoding (same rule as the agent). */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** true when `pem` holds a private key (node:crypto derives a public key from one, so createPublicKey alone accepts it). */
function isPrivateKeyPem(pem: string): boolean {
  try {
    createPrivateKey(pem);
    return true;
  } catch {
    return false;
  }
}

/** Reads and parses a PEM key file and insists on Ed25519; `use` ends the message for another key type. */
async function loadKey(path: string, kind: 'private' | 'public', use: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (e) {
    throw new PackageToolError(`cannot read key file ${path}: ${(e as Error).message}`);
  }
  if (kind === 'public' && isPrivateKeyPem(pem))
    throw new PackageToolError(`${path} is a PRIVATE key; give its public half (the .pub file from fota keygen). The private key belongs on the signing machine only, never on devices`);
  let key: KeyObject;
  try {
    key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (e) {
    throw new PackageToolError(`${path} is not a PEM ${kind} key (${(e as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new PackageToolError(`${path} is a ${key.asymmetricKeyType} key; ${use}`);
  return key;
}

/** Loads an Ed25519 private key (PKCS#8 PEM). Throws PackageToolError. */
export function loadPrivateKey(path: string): Promise<KeyObject> {
  return loadKey(path, 'private', 'fota signs with Ed25519 (fota keygen)');
}

/** Loads an Ed25519 public key (SPKI PEM). A private key is refused: it must not travel where public keys go. Throws PackageToolError. */
export function loadPublicKey(path: string): Promise<KeyObject> {
  return loadKey(path, 'public', 'fota verifies Ed25519 only');
}

export interface KeyFiles {
  privateKey: string;
  publicKey: string;
  keyId: string;
}

/**
 * Writes BASE.key (PKCS#8 PEM, mode 0600) and BASE.pub (SPKI PEM). Refuses to overwrite either file unless `force`.
 * Throws PackageToolError.
 */
export async function keygen(base: string, opts: { force?: boolean } = {}): Promise<KeyFiles> {
  const files = { privateKey: `${base}.key`, publicKey: `${base}.pub` };
  const flag = opts.force ? 'w' : 'wx';
  if (!opts.force) {
    for (const f of Object.values(files)) {
      if (await stat(f).then(() => true, () => false)) throw new PackageToolError(`${f} already exists; refusing to overwrite a key (use --force)`);
    }
  }
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  try {
    // `fota keygen -o keys/release` makes keys/ (0700: it holds a private key) when it is not there yet
    await mkdir(dirname(files.privateKey), { recursive: true, mode: 0o700 });
    await writeFile(files.privateKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag });
    await chmod(files.privateKey, 0o600); // an overwritten file keeps its old mode otherwise
    await writeFile(files.publicKey, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag });
  } catch (e) {
    throw new PackageToolError(`cannot write the key files: ${(e as Error).message}`);
  }
  return { ...files, keyId: keyIdOf(publicKey) };
}

export interface PackOptions {
  image: string;
  out: string;
  version: string;
  deviceTypes: string[];
  /** package name; defaults to the image file name without its extension */
  name?: string;
  /** Ed25519 private key; none makes an unsigned package (the CLI demands --unsigned for that) */
  key?: KeyObject;
  gzip?: boolean;
  description?: string;
  /** anti-rollback: once committed, devices refuse any version below this one (manifest securityFloor) */
  securityFloor?: string;
  created?: Date;
  /** image bytes read so far in the current pass, of the image size */
  progress?(done: number, total: number, phase: 'hash' | 'write'): void;
}

export interface PackResult {
  out: string;
  manifest: Manifest;
  keyId: string | undefined;
  /** package size in bytes */
  bytes: number;
}

function tap(onChunk: (c: Buffer) => void): Transform {
  return new Transform({ transform: (c: Buffer, _e, cb) => (onChunk(c), cb(null, c)) });
}

/** the image stream (optionally gzipped), hashing the raw image bytes on the way */
function imageStream(path: string, gzip: boolean, onRaw: (c: Buffer) => void): Readable {
  const raw = createReadStream(path, { highWaterMark: CHUNK });
  return gzip ? pipeline(raw, tap(onRaw), createGzip({ level: 9 }), () => undefined) : pipeline(raw, tap(onRaw), () => undefined);
}

const OPTION_OF: Record<string, string> = { name: '--name', version: '--version', 'payload.name': 'the image file name', securityFloor: '--security-floor' };

/**
 * Builds a package: hashes the image in one streaming pass (and measures its gzip size), then streams it into
 * OUT (written to a temporary file, renamed when complete). Throws PackageToolError on bad input.
 */
export async function pack(opts: PackOptions): Promise<PackResult> {
  const st = await stat(opts.image).catch(() => undefined);
  if (!st?.isFile() || st.size === 0) throw new PackageToolError(`${opts.image} is not a non-empty regular file`);
  const file = basename(opts.image);
  const hash = createHash('sha256');
  let done = 0;
  let storedSize = 0;
  const pass1 = imageStream(opts.image, opts.gzip === true, (c) => (hash.update(c), opts.progress?.((done += c.length), st.size, 'hash')));
  await pipelineAsync(pass1, new Writable({ write: (c: Buffer, _e, cb) => ((storedSize += c.length), cb()) }));
  const manifest: Manifest = {
    format: 1,
    name: opts.name ?? file.replace(/\.[^.]*$/, ''),
    version: opts.version,
    deviceTypes: opts.deviceTypes,
    payload: { name: file.replace(/[^A-Za-z0-9._+-]/g, '_') + (opts.gzip ? '.gz' : ''), size: st.size, sha256: hash.digest('hex'), compression: opts.gzip ? 'gzip' : 'none' },
    created: (opts.created ?? new Date()).toISOString(),
  };
  if (opts.gzip) manifest.payload.storedSize = storedSize;
  if (opts.key) manifest.keyId = keyIdOf(opts.key);
  if (opts.description !== undefined) manifest.description = opts.description;
  if (opts.securityFloor !== undefined) manifest.securityFloor = opts.securityFloor;
  const text = serializeManifest(manifest);
  try {
    parseManifest(text);
  } catch (e) {
    if (!(e instanceof ManifestError)) throw e;
    const opt = OPTION_OF[e.field] ?? (e.field.startsWith('deviceTypes') ? '--device-type' : e.field);
    throw new PackageToolError(`${opt}: ${e.message}`);
  }
  const manifestBytes = Buffer.from(text, 'utf8');
  const signature = opts.key ? sign(null, manifestBytes, opts.key) : undefined;
  const tmp = `${opts.out}.partial-${process.pid}`;
  const hash2 = createHash('sha256');
  done = 0;
  async function* bytes(): AsyncGenerator<Uint8Array> {
    const zeros = (n: number): Buffer => Buffer.alloc(blockRound(n) - n);
    yield ustarHeader({ name: MANIFEST_ENTRY, size: manifestBytes.length, mtime: Date.now() / 1000 });
    yield manifestBytes;
    yield zeros(manifestBytes.length);
    if (signature) yield* [ustarHeader({ name: SIGNATURE_ENTRY, size: signature.length, mtime: Date.now() / 1000 }), signature, zeros(signature.length)];
    yield ustarHeader({ name: manifest.payload.name, size: storedSize, mtime: Math.floor(st!.mtimeMs / 1000) });
    let written = 0;
    for await (const c of imageStream(opts.image, opts.gzip === true, (c) => (hash2.update(c), opts.progress?.((done += c.length), st!.size, 'write')))) {
      written += (c as Buffer).length;
      if (written > storedSize) break;
      yield c as Buffer;
    }
    if (written !== storedSize || hash2.digest('hex') !== manifest.payload.sha256) throw new PackageToolError(`${opts.image} changed while it was being packed; try again`);
    yield zeros(storedSize);
    yield Buffer.alloc(END_OF_ARCHIVE_BYTES);
  }
  try {
    await pipelineAsync(Readable.from(bytes()), createWriteStream(tmp, { mode: 0o644 }));
    await rename(tmp, opts.out);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e instanceof PackageToolError ? e : new PackageToolError(`cannot write ${opts.out}: ${(e as Error).message}`);
  }
  return { out: opts.out, manifest, keyId: manifest.keyId, bytes: (await stat(opts.out)).size };
}
