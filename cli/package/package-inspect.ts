// `fota inspect`'s engine: streams a package through node-tar's Parser and checks the strict layout, the manifest,
// the signature, the payload's size and SHA-256 (after gunzip) and the zero trailer. Never holds the package in
// memory; collects every problem in a report instead of throwing. Format: docs/package-format.md.

import { createHash, verify, type KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import {
  END_OF_ARCHIVE_BYTES,
  MAX_TRAILER_BYTES,
  MANIFEST_ENTRY,
  blockRound,
  checkPayloadEntrySize,
  classifyEntry,
  parseManifest,
  payloadOffset,
  type EntryRole,
  type Manifest,
} from '../../protocol/package-format.js';
import { keyIdOf } from './package-tools.js';

/** bytes per read of the package file */
const CHUNK = 1024 * 1024;

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
