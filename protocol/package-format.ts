// The fota package format, version 1: entry names, the manifest schema and its validation, the strict tar layout
// (manifest.json, [manifest.sig], payload) and a minimal ustar header encoder. Pure: no node:* imports, so the
// agent (streaming reader) and the hub (pack / inspect) share one definition. Described in docs/package-format.md.

import { compareVersions } from './versions.js';

export const PACKAGE_FORMAT = 1;
export const MANIFEST_ENTRY = 'manifest.json';
export const SIGNATURE_ENTRY = 'manifest.sig';
/** manifest.json larger than this is refused before it is read */
export const MAX_MANIFEST_BYTES = 64 * 1024;
/** a raw Ed25519 signature */
export const SIGNATURE_BYTES = 64;
export const TAR_BLOCK = 512;
/** the end-of-archive marker: two zero blocks */
export const END_OF_ARCHIVE_BYTES = 2 * TAR_BLOCK;
/** zero bytes allowed after the payload entry (end blocks plus tar's record padding, 10 KiB for GNU tar's default) */
export const MAX_TRAILER_BYTES = 1024 * 1024;
/** keyId: the first 16 hex digits of SHA-256 over the public key's SPKI DER encoding */
export const KEY_ID_HEX_DIGITS = 16;
export const COMPRESSIONS = ['none', 'gzip'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export interface PayloadDescription {
  /** the name of the payload's tar entry: a plain file name, no directory */
  name: string;
  /** bytes written to the slot (after decompression), > 0 */
  size: number;
  /** lowercase hex SHA-256 of the bytes written to the slot */
  sha256: string;
  compression: Compression;
  /** bytes of the payload tar entry as stored; required for gzip, equal to `size` (or absent) for none */
  storedSize?: number;
}

export interface Manifest {
  format: typeof PACKAGE_FORMAT;
  name: string;
  version: string;
  /** device types this image may be installed on */
  deviceTypes: string[];
  payload: PayloadDescription;
  /** ISO 8601 creation time (informational) */
  created?: string;
  /** the signing key's id (a hint to pick the key and to explain failures; the signature is what counts) */
  keyId?: string;
  /** free text for people (≤ 1024 characters) */
  description?: string;
  /**
   * anti-rollback: once this package is committed, the device refuses any version below this one, whatever a job
   * allows (docs/package-format.md "Versions and anti-rollback"). A comparable version, at most `version`.
   */
  securityFloor?: string;
}

/** A manifest that does not validate; `field` is its dotted path ("payload.sha256"). */
export class ManifestError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`manifest field "${field}": ${message}`);
    this.name = 'ManifestError';
  }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+~:-]{0,63}$/;
const DEVICE_TYPE = /^[A-Za-z0-9][A-Za-z0-9._+:-]{0,63}$/;
const ENTRY_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const KEY_ID = /^[0-9a-f]{16}$/;
const TOP_FIELDS = new Set(['format', 'name', 'version', 'deviceTypes', 'payload', 'created', 'keyId', 'description', 'securityFloor']);
const PAYLOAD_FIELDS = new Set(['name', 'size', 'sha256', 'compression', 'storedSize']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function text(obj: Record<string, unknown>, key: string, re: RegExp, path: string, rule: string): string {
  const v = obj[key];
  if (typeof v !== 'string') throw new ManifestError(path, v === undefined ? 'is required' : 'must be a string');
  if (!re.test(v)) throw new ManifestError(path, `"${v.slice(0, 80)}" is not valid (${rule})`);
  return v;
}

function size(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new ManifestError(path, 'must be a positive integer (bytes)');
  return v;
}

function noUnknown(obj: Record<string, unknown>, known: Set<string>, prefix: string): void {
  for (const k of Object.keys(obj)) if (!known.has(k)) throw new ManifestError(prefix + k, 'is not a known field of format 1');
}

/**
 * Parses and validates manifest.json text. Strict: unknown fields are refused (a new field means a new format
 * version). Throws ManifestError naming the first bad field.
 */
export function parseManifest(json: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new ManifestError('(document)', `is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(raw)) throw new ManifestError('(document)', 'must be a JSON object');
  const twice = duplicateKey(json);
  // JSON.parse keeps the last of two equal keys, other parsers the first: the device and the tools that showed the
  // signer what they sign could read two different manifests from the same signed bytes
  if (twice !== undefined) throw new ManifestError(twice.path, 'appears twice; a manifest may name each field once (JSON readers disagree on which one counts)');
  if (raw.format !== PACKAGE_FORMAT) {
    throw new ManifestError('format', `must be ${PACKAGE_FORMAT} (got ${JSON.stringify(raw.format) ?? 'nothing'}); this reader knows format ${PACKAGE_FORMAT} only`);
  }
  noUnknown(raw, TOP_FIELDS, '');
  const name = text(raw, 'name', NAME, 'name', 'letters, digits and ._+- , at most 128');
  const version = text(raw, 'version', VERSION, 'version', 'letters, digits and ._+~:- , at most 64');
  const types = raw.deviceTypes;
  if (!Array.isArray(types) || types.length === 0 || types.length > 64) {
    throw new ManifestError('deviceTypes', 'must be a non-empty array of at most 64 device types');
  }
  const deviceTypes = types.map((t, i) => {
    if (typeof t !== 'string' || !DEVICE_TYPE.test(t)) throw new ManifestError(`deviceTypes[${i}]`, 'must be a device type (letters, digits and ._+:- , at most 64)');
    return t;
  });
  if (new Set(deviceTypes).size !== deviceTypes.length) throw new ManifestError('deviceTypes', 'lists a device type twice');
  const p = raw.payload;
  if (!isObject(p)) throw new ManifestError('payload', p === undefined ? 'is required' : 'must be an object');
  noUnknown(p, PAYLOAD_FIELDS, 'payload.');
  const payloadName = text(p, 'name', ENTRY_NAME, 'payload.name', 'a plain file name: letters, digits and ._+- , at most 100');
  if (payloadName === MANIFEST_ENTRY || payloadName === SIGNATURE_ENTRY) throw new ManifestError('payload.name', `must not be "${payloadName}"`);
  // absent means none; null is not a compression (`??` took it for absent)
  const compression = p.compression === undefined ? 'none' : p.compression;
  if (!COMPRESSIONS.includes(compression as Compression)) throw new ManifestError('payload.compression', `must be one of ${COMPRESSIONS.join(', ')}`);
  const payload: PayloadDescription = {
    name: payloadName,
    size: size(p.size, 'payload.size'),
    sha256: text(p, 'sha256', SHA256, 'payload.sha256', '64 lowercase hex digits'),
    compression: compression as Compression,
  };
  if (p.storedSize !== undefined) payload.storedSize = size(p.storedSize, 'payload.storedSize');
  if (payload.compression === 'gzip' && payload.storedSize === undefined) throw new ManifestError('payload.storedSize', 'is required when compression is gzip');
  if (payload.compression === 'none' && payload.storedSize !== undefined && payload.storedSize !== payload.size) {
    throw new ManifestError('payload.storedSize', 'must equal payload.size when compression is none');
  }
  const m: Manifest = { format: PACKAGE_FORMAT, name, version, deviceTypes, payload };
  if (raw.created !== undefined) {
    if (typeof raw.created !== 'string' || Number.isNaN(Date.parse(raw.created))) throw new ManifestError('created', 'must be an ISO 8601 time');
    m.created = raw.created;
  }
  if (raw.keyId !== undefined) m.keyId = text(raw, 'keyId', KEY_ID, 'keyId', `${KEY_ID_HEX_DIGITS} lowercase hex digits`);
  if (raw.description !== undefined) {
    if (typeof raw.description !== 'string' || raw.description.length > 1024) throw new ManifestError('description', 'must be a string of at most 1024 characters');
    m.description = raw.description;
  }
  if (raw.securityFloor !== undefined) {
    const floor = text(raw, 'securityFloor', VERSION, 'securityFloor', 'a version');
    const c = compareVersions(floor, version);
    if (c === undefined) throw new ManifestError('securityFloor', `"${floor}" and the version "${version}" must both be versions the device can order (SemVer-like: 2.1.0, 2024.01.15)`);
    if (c > 0) throw new ManifestError('securityFloor', `${floor} is above the package's own version ${version}; the device could never install it`);
    m.securityFloor = floor;
  }
  return m;
}

/**
 * The first key that appears twice in one object of `json` (which must be valid JSON), compared after unescaping
 * ("name" and "n\u0061me" are the same key), with its dotted path; undefined when there is none.
 */
export function duplicateKey(json: string): { path: string } | undefined {
  // one frame per open object (its keys so far) or array (keys null); `key` is the object's latest key
  const stack: { keys: Set<string> | null; path: string; key: string }[] = [];
  const join = (a: string, b: string) => (a ? `${a}.${b}` : b);
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    const top = stack[stack.length - 1];
    if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      if (top?.keys && expectKey) {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { path: join(top.path, key) };
        top.keys.add(key);
        top.key = key;
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      const path = top === undefined ? '' : top.keys ? join(top.path, top.key) : `${top.path}[]`;
      stack.push({ keys: c === '{' ? new Set() : null, path, key: '' });
      expectKey = c === '{';
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      expectKey = top?.keys != null;
    }
  }
  return undefined;
}

/** The manifest.json text `fota pack` writes (2-space JSON plus a newline). The signature covers these exact bytes. */
export function serializeManifest(m: Manifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** Bytes of the payload as stored in its tar entry. */
export function storedPayloadSize(m: Manifest): number {
  return m.payload.storedSize ?? m.payload.size;
}

/** `n` rounded up to whole tar blocks. */
export function blockRound(n: number): number {
  return Math.ceil(n / TAR_BLOCK) * TAR_BLOCK;
}

/** Byte offset of the payload's first data byte in a strictly laid out package. */
export function payloadOffset(manifestBytes: number, signed: boolean): number {
  return TAR_BLOCK + blockRound(manifestBytes) + (signed ? TAR_BLOCK + blockRound(SIGNATURE_BYTES) : 0) + TAR_BLOCK;
}

export type EntryRole = 'manifest' | 'signature' | 'payload';

/** What a tar reader knows about an entry from its header. */
export interface EntryFacts {
  name: string;
  /** node-tar's type name: "File", "SymbolicLink", "Directory", ... */
  type: string;
  size: number;
  /** a PAX (or GNU long-name) extended header applies to it */
  extended: boolean;
}

/**
 * Decides what `entry` is, given the roles seen before it and the manifest once read. Throws an Error saying
 * why the entry breaks the strict layout: only regular files, no extended headers, fixed names in fixed order,
 * nothing after the payload. The payload entry's size is checked separately (checkPayloadEntrySize).
 */
export function classifyEntry(seen: readonly EntryRole[], entry: EntryFacts, manifest: Manifest | undefined): EntryRole {
  const label = `entry ${JSON.stringify(entry.name.slice(0, 120))}`;
  if (entry.extended) throw new Error(`${label} carries a PAX/GNU extended header; fota packages are plain ustar`);
  if (entry.type !== 'File') throw new Error(`${label} is a ${entry.type}; only regular files are allowed`);
  const last = seen[seen.length - 1];
  if (last === 'payload') throw new Error(`${label} follows the payload; nothing may come after it`);
  if (last === undefined) {
    if (entry.name !== MANIFEST_ENTRY) throw new Error(`${label} comes first; the first entry must be ${MANIFEST_ENTRY}`);
    if (entry.size === 0 || entry.size > MAX_MANIFEST_BYTES) throw new Error(`${MANIFEST_ENTRY} is ${entry.size} bytes; it must be 1..${MAX_MANIFEST_BYTES}`);
    return 'manifest';
  }
  if (manifest === undefined) throw new Error(`${label}: the manifest was not read yet`);
  if (last === 'manifest' && entry.name === SIGNATURE_ENTRY) {
    if (entry.size !== SIGNATURE_BYTES) throw new Error(`${SIGNATURE_ENTRY} is ${entry.size} bytes; an Ed25519 signature is ${SIGNATURE_BYTES}`);
    return 'signature';
  }
  if (entry.name === manifest.payload.name) return 'payload';
  const expected = last === 'manifest' ? `${SIGNATURE_ENTRY} or the payload "${manifest.payload.name}"` : `the payload "${manifest.payload.name}"`;
  throw new Error(`${label} is unexpected here; expected ${expected}`);
}

/** Throws when the payload entry's stored size disagrees with the manifest. */
export function checkPayloadEntrySize(m: Manifest, entrySize: number): void {
  const want = storedPayloadSize(m);
  if (entrySize !== want) {
    throw new Error(`payload entry "${m.payload.name}" holds ${entrySize} bytes but the manifest says ${want} (${m.payload.compression === 'none' ? 'payload.size' : 'payload.storedSize'})`);
  }
}

/**
 * Why a 512-byte header block that the tar reader accepted is not a POSIX ustar header (magic "ustar\0", version
 * "00", POSIX.1-1988), or undefined. node-tar also reads pre-POSIX (v7) and GNU headers; the format says ustar, and a
 * reader that accepts more than the format invites archives that other tools read differently.
 */
export function ustarHeaderProblem(block: Uint8Array): string | undefined {
  const magic = block.subarray(257, 265);
  const text = String.fromCharCode(...magic);
  if (text === 'ustar\u000000') return undefined;
  const fix = 'fota packages are POSIX ustar: build them with `fota pack`, or tar --format=ustar';
  if (text === 'ustar  \u0000') return `a GNU tar header (GNU tar's default format); ${fix}`;
  if (magic.every((b) => b === 0)) return `a pre-POSIX (v7) tar header, without the "ustar" magic; ${fix}`;
  return `a tar header whose magic is not "ustar" version "00"; ${fix}`;
}

export interface UstarEntry {
  name: string;
  size: number;
  /** seconds since the epoch */
  mtime?: number;
  mode?: number;
  /** typeflag character: "0" regular file (default); others only to build hostile test archives */
  type?: string;
  linkname?: string;
}

function putString(block: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = new TextEncoder().encode(value);
  if (bytes.length > length) throw new Error(`tar header field too long: "${value.slice(0, 40)}" (max ${length} bytes)`);
  block.set(bytes, offset);
}

function putOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  putString(block, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

/**
 * One 512-byte ustar header. Sizes of 8 GiB and more use GNU base-256 encoding, which GNU tar and node-tar read.
 * Throws when the name does not fit the 100-byte name field (no prefix field, no PAX).
 */
export function ustarHeader(e: UstarEntry): Uint8Array {
  const block = new Uint8Array(TAR_BLOCK);
  putString(block, 0, 100, e.name);
  putOctal(block, 100, 8, e.mode ?? 0o644);
  putOctal(block, 108, 8, 0);
  putOctal(block, 116, 8, 0);
  if (!Number.isSafeInteger(e.size) || e.size < 0) throw new Error(`tar entry size must be a non-negative integer (got ${e.size})`);
  if (e.size < 8 ** 11) putOctal(block, 124, 12, e.size);
  else {
    block[124] = 0x80; // base-256 marker; big-endian value in the remaining 11 bytes
    let v = e.size;
    for (let i = 135; i > 124; i--, v = Math.floor(v / 256)) block[i] = v % 256;
  }
  putOctal(block, 136, 12, Math.max(0, Math.floor(e.mtime ?? 0)));
  block.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  putString(block, 156, 1, e.type ?? '0');
  putString(block, 157, 100, e.linkname ?? '');
  putString(block, 257, 8, 'ustar\u000000');
  putString(block, 265, 32, 'root');
  putString(block, 297, 32, 'root');
  putOctal(block, 329, 8, 0);
  putOctal(block, 337, 8, 0);
  let sum = 0;
  for (const b of block) sum += b;
  putString(block, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}
