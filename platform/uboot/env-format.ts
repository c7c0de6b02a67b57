// The U-Boot environment image format read and written by fw_printenv/fw_setenv (libubootenv 0.3.2) and by
// U-Boot's `env export -c` / saveenv. Pure: no IO. Strings are "raw" (latin1: one char per byte) so that any
// byte a variable holds survives a rewrite; boot-env.ts converts to and from UTF-8 at the edge.
//
// Single copy:    [CRC32 LE over data][data: size - 4]
// Redundant copy: [CRC32 LE over data][flags: 1 byte][data: size - 5]   (two such copies, same size)
// data = "name=value\0name=value\0\0" padded to the end; CRC covers the whole data area including padding.

/** Thrown when an image cannot be parsed or built. `reason` is stable for callers and tests. */
export class EnvFormatError extends Error {
  constructor(
    readonly reason: 'bad-crc' | 'too-small' | 'too-large' | 'invalid-name' | 'invalid-value',
    message: string,
  ) {
    super(message);
    this.name = 'EnvFormatError';
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, the zlib `crc32` U-Boot uses) of `data`, as an unsigned 32-bit number. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Variables in raw (latin1) form, name → value. */
export type RawVars = Map<string, string>;

export interface ParsedCopy {
  vars: RawVars;
  /** the redundant flag byte (undefined for a single-copy layout) */
  flags: number | undefined;
}

/** Header length in bytes before the data area. */
export function headerSize(redundant: boolean): number {
  return redundant ? 5 : 4;
}

/** True when the stored CRC matches the data area. Never throws (a too-small buffer is simply invalid). */
export function isValidCopy(image: Uint8Array, redundant: boolean): boolean {
  const h = headerSize(redundant);
  if (image.length <= h) return false;
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  return view.getUint32(0, true) === crc32(image.subarray(h));
}

/** Splits a data area into variables. Entries without '=' are skipped (as libubootenv does). */
export function parseEnvData(data: Uint8Array): RawVars {
  const vars: RawVars = new Map();
  let start = 0;
  while (start < data.length && data[start] !== 0) {
    let end = data.indexOf(0, start);
    if (end < 0) end = data.length; // unterminated last entry: take what is there
    const entry = latin1(data.subarray(start, end));
    const eq = entry.indexOf('=');
    if (eq > 0) vars.set(entry.slice(0, eq), entry.slice(eq + 1));
    start = end + 1;
  }
  return vars;
}

/**
 * Parses one copy of an environment image (the whole fixed-size area).
 * Throws EnvFormatError('bad-crc') when the CRC does not match: U-Boot would ignore this copy and use its defaults.
 */
export function parseEnvImage(image: Uint8Array, redundant: boolean): ParsedCopy {
  const h = headerSize(redundant);
  if (image.length <= h + 1) throw new EnvFormatError('too-small', `an environment image needs more than ${h + 1} bytes (got ${image.length})`);
  if (!isValidCopy(image, redundant)) throw new EnvFormatError('bad-crc', 'the environment CRC does not match its contents (corrupted or never written)');
  return { vars: parseEnvData(image.subarray(h)), flags: redundant ? image[4] : undefined };
}

/** Checks a raw name/value pair the way U-Boot and libubootenv would accept it. Throws EnvFormatError. */
export function checkVar(name: string, value: string): void {
  if (name === '' || name.includes('=') || name.includes('\0') || /\s/.test(name))
    throw new EnvFormatError('invalid-name', `"${name}" is not a valid U-Boot variable name (no '=', whitespace or NUL, not empty)`);
  if (value.includes('\0')) throw new EnvFormatError('invalid-value', `the value of ${name} contains a NUL byte`);
}

/**
 * Builds one copy of an environment image of exactly `size` bytes: variables sorted by name (as U-Boot and
 * libubootenv store them), a terminating empty string, then `pad` bytes. Throws EnvFormatError('too-large').
 */
export function serializeEnvImage(vars: RawVars, opts: { size: number; redundant: boolean; flags?: number; pad?: number }): Uint8Array {
  const h = headerSize(opts.redundant);
  if (!Number.isInteger(opts.size) || opts.size <= h + 1) throw new EnvFormatError('too-small', `environment size must be more than ${h + 1} bytes (got ${opts.size})`);
  const image = new Uint8Array(opts.size).fill(opts.pad ?? 0);
  const names = [...vars.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let at = h;
  const limit = opts.size - 1; // room for the final terminator
  for (const name of names) {
    const value = vars.get(name)!;
    checkVar(name, value);
    const entry = `${name}=${value}`;
    if (at + entry.length + 1 > limit)
      throw new EnvFormatError('too-large', `the variables do not fit the ${opts.size}-byte environment (${name} would end at byte ${at + entry.length + 1})`);
    for (let i = 0; i < entry.length; i++) image[at + i] = entry.charCodeAt(i) & 0xff;
    image[at + entry.length] = 0;
    at += entry.length + 1;
  }
  image[at] = 0; // the empty string that ends the list
  if (opts.redundant) image[4] = (opts.flags ?? 1) & 0xff;
  new DataView(image.buffer).setUint32(0, crc32(image.subarray(h)), true);
  return image;
}

/**
 * Which of two redundant copies is current (U-Boot env_import_redund / libubootenv FLAGS_INCREMENTAL rules):
 * the only valid one; of two valid ones the higher flag, where 0 beats 255 (the counter wrapped); equal → copy 0.
 * Returns -1 when neither is valid.
 */
export function currentCopy(copies: readonly [{ valid: boolean; flags: number }, { valid: boolean; flags: number }]): 0 | 1 | -1 {
  const [a, b] = copies;
  if (a.valid && !b.valid) return 0;
  if (!a.valid && b.valid) return 1;
  if (!a.valid && !b.valid) return -1;
  if (a.flags === 0xff && b.flags === 0) return 1;
  if (b.flags === 0xff && a.flags === 0) return 0;
  return b.flags > a.flags ? 1 : 0;
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

/** UTF-8 text → raw (latin1) form, so non-ASCII values are stored as their UTF-8 bytes. */
export function toRaw(text: string): string {
  return latin1(new TextEncoder().encode(text));
}

/** Raw (latin1) form → text: UTF-8 when the bytes are valid UTF-8, otherwise the bytes as latin1. */
export function fromRaw(raw: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(raw)) return raw;
  const bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0));
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return raw;
  }
}
