// fota package tooling for the operator: Ed25519 key files, `pack` (hashes the image in one streaming pass, then
// streams it into a strict ustar archive) and `inspect` (streams a package through node-tar's Parser, checking
// layout, signature and payload hash). Never holds an image or a package in memory. Format: docs/package-format.md.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Transform, Writable, pipeline } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import {
  END_OF_ARCHIVE_BYTES,
  MAX_TRAILER_BYTES,
  ManifestError,
  SIGNATURE_ENTRY,
  MANIFEST_ENTRY,
  blockRound,
  checkPayloadEntrySize,
  classifyEntry,
  parseManifest,
  payloadOffset,
  serializeManifest,
  ustarHeader,
  type EntryRole,
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

async function readKeyFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new PackageToolError(`cannot read key file ${path}: ${(e as Error).message}`);
  }
}

/** Loads an Ed25519 private key (PKCS#8 PEM). Throws PackageToolError. */
export async function loadPrivateKey(path: string): Promise<KeyObject> {
  let key: KeyObject;
  try {
    key = createPrivateKey(await readKeyFile(path));
  } catch (e) {
    throw e instanceof PackageToolError ? e : new PackageToolError(`${path} is not a PEM private key (${(e as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new PackageToolError(`${path} is a ${key.asymmetricKeyType} key; fota signs with Ed25519 (fota keygen)`);
  return key;
}

/** Loads an Ed25519 public key (SPKI PEM; a private key file also works). Throws PackageToolError. */
export async function loadPublicKey(path: string): Promise<KeyObject> {
  let key: KeyObject;
  try {
    key = createPublicKey(await readKeyFile(path));
  } catch (e) {
    throw e instanceof PackageToolError ? e : new PackageToolError(`${path} is not a PEM public key (${(e as Error).message})`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new PackageToolError(`${path} is a ${key.asymmetricKeyType} key; fota verifies Ed25519 only`);
  return key;
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

const OPTION_OF: Record<string, string> = { name: '--name', version: '--version', 'payload.name': 'the image file name' };

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

export interface InspectOptions {
  /** public keys to verify the signature against; none: the signature is reported, not checked */
  trust?: readonly KeyObject[];
  /** package bytes read so far, of the package size */
  progress?(done: number, total: number): void;
}

export interface InspectReport {
  file: string;
  bytes: number;
  entries: { name: string; type: string; size: number }[];
  manifest: Manifest | undefined;
  signature: { state: 'verified' | 'not-checked' | 'unsigned' | 'invalid' | 'untrusted' | 'unknown'; keyId: string | undefined };
  payload: { state: 'ok' | 'mismatch' | 'unknown'; sha256: string | undefined; size: number };
  /** every reason the package does not verify; empty when it does */
  problems: string[];
  ok: boolean;
}

function judgeSignature(r: InspectReport, bytes: Buffer, sig: Buffer | null, trust: readonly KeyObject[] | undefined): void {
  const m = r.manifest as Manifest;
  r.signature.keyId = m.keyId;
  if (sig === null) {
    r.signature.state = 'unsigned';
    if (trust?.length) r.problems.push('the package is unsigned but --trust was given');
    return;
  }
  if (!trust?.length) return void (r.signature.state = 'not-checked');
  const good = trust.find((k) => verify(null, bytes, k, sig));
  if (good) return void Object.assign(r.signature, { state: 'verified', keyId: keyIdOf(good) });
  const named = m.keyId !== undefined && trust.some((k) => keyIdOf(k) === m.keyId);
  r.signature.state = named ? 'invalid' : 'untrusted';
  r.problems.push(named ? `the signature does not match the manifest for key ${m.keyId}: the manifest or signature was altered` : `signed by key ${m.keyId ?? '(none named)'}, which is not among the --trust keys`);
}

/**
 * Reads a package by streaming: the strict layout, the manifest, the signature (against `trust`), the payload's
 * size and SHA-256 (after gunzip), the zero trailer. Problems are collected in the report; throws only when the
 * file cannot be read.
 */
export async function inspect(file: string, opts: InspectOptions = {}): Promise<InspectReport> {
  const total = (await stat(file)).size;
  const r: InspectReport = { file, bytes: total, entries: [], manifest: undefined, signature: { state: 'unknown', keyId: undefined }, payload: { state: 'unknown', sha256: undefined, size: 0 }, problems: [], ok: false };
  const roles: EntryRole[] = [];
  const meta: { manifest?: Buffer; sig: Buffer | null } = { sig: null };
  let broken: string | undefined;
  let payloadEnd = -1;
  let payloadDone: Promise<void> = Promise.resolve();
  const wakers = new Set<() => void>();
  const fail = (why: string): void => {
    broken ??= why;
    for (const w of wakers) w();
  };
  const onEntry = (entry: ReadEntry): void => {
    r.entries.push({ name: entry.path, type: entry.type, size: entry.size });
    const role = classifyEntry(roles, { name: entry.path, type: entry.type, size: entry.size, extended: entry.extended != null || entry.globalExtended != null }, r.manifest);
    roles.push(role);
    if (role !== 'payload') {
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      return void entry.on('end', () => {
        if (role === 'signature') return void (meta.sig = Buffer.concat(chunks));
        meta.manifest = Buffer.concat(chunks);
        try {
          r.manifest = parseManifest(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(meta.manifest));
        } catch (e) {
          fail(`invalid ${MANIFEST_ENTRY}: ${(e as Error).message}`);
        }
      });
    }
    const m = r.manifest as Manifest;
    judgeSignature(r, meta.manifest as Buffer, meta.sig, opts.trust);
    checkPayloadEntrySize(m, entry.size);
    payloadEnd = payloadOffset((meta.manifest as Buffer).length, meta.sig !== null) + blockRound(entry.size);
    const hash = createHash('sha256');
    const count = (c: Buffer): void => {
      r.payload.size += c.length;
      if (r.payload.size <= m.payload.size) hash.update(c);
    };
    const end = (): void => void (r.payload.sha256 = hash.digest('hex'));
    if (m.payload.compression === 'none') return void (entry.on('data', count), entry.on('end', end));
    const z = createGunzip();
    payloadDone = new Promise((resolve) => {
      z.on('data', count).on('end', end).on('close', resolve).on('error', (e) => fail(`the gzip payload does not inflate: ${e.message}`));
    });
    wakers.add(() => z.destroy());
    entry.pipe(z);
  };
  const parser = new Parser({ strict: true, maxMetaEntrySize: 4096, zstd: false, brotli: false, onReadEntry: (e) => {
    try {
      onEntry(e);
    } catch (err) {
      fail((err as Error).message);
    }
  } });
  parser.on('error', (e: Error) => fail(`malformed tar archive: ${e.message}`));
  parser.on('ignoredEntry', (e: ReadEntry) => fail(`entry ${JSON.stringify(e.path)} of type ${e.type} is not allowed`));
  let read = 0;
  const first = Buffer.alloc(1);
  const fh = await open(file);
  await fh.read(first, 0, 1, 0).finally(() => fh.close());
  // node-tar would inflate a compressed archive by itself (gzip, zstd magic): a package is a plain tar
  if (first[0] === 0x1f || first[0] === 0x28) fail('not a fota package: it looks compressed as a whole; a package is a plain tar');
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK })) {
    if (broken) break;
    opts.progress?.((read += (chunk as Buffer).length), total);
    if (!parser.write(chunk as Buffer) && !broken) {
      await new Promise<void>((resolve) => {
        const done = (): void => (wakers.delete(done), parser.off('drain', done), resolve());
        wakers.add(done);
        parser.once('drain', done);
      });
    }
  }
  if (!broken) parser.end();
  await payloadDone;
  if (!broken && !roles.includes('payload')) fail('the package has no payload entry');
  if (!broken) await checkTrailer(file, payloadEnd, total, fail);
  if (broken) r.problems.unshift(broken);
  const m = r.manifest;
  if (m && r.payload.sha256 !== undefined) {
    r.payload.state = r.payload.size === m.payload.size && r.payload.sha256 === m.payload.sha256 ? 'ok' : 'mismatch';
    if (r.payload.state === 'mismatch') r.problems.push(`payload: ${r.payload.size} bytes with SHA-256 ${r.payload.sha256}; the manifest says ${m.payload.size} bytes, ${m.payload.sha256}`);
  }
  r.ok = r.problems.length === 0 && r.payload.state === 'ok';
  return r;
}

/** After the payload entry: at least the two end blocks, nothing but zeros, at most MAX_TRAILER_BYTES. */
async function checkTrailer(file: string, from: number, total: number, fail: (why: string) => void): Promise<void> {
  const n = total - from;
  if (n < END_OF_ARCHIVE_BYTES) return fail('the package is truncated: the end-of-archive blocks are missing');
  if (n > MAX_TRAILER_BYTES) return fail(`${n} bytes follow the payload; at most ${MAX_TRAILER_BYTES} zero bytes may`);
  const buf = Buffer.alloc(n);
  const fh = await open(file);
  await fh.read(buf, 0, n, from).finally(() => fh.close());
  if (buf.some((b) => b !== 0)) fail('data follows the payload; only zero padding and the end-of-archive blocks may come after it');
}
