// Parses fw_env.config (the libubootenv / fw_printenv configuration) into environment locations, so the native
// FileBootEnv reads the very same bytes fw_printenv does. Pure: no IO. Only the classic line format
// "DEVICE OFFSET ENVSIZE [SECTORSIZE [SECTORS]]" is supported (not the YAML namespaces of newer libubootenv).

/** Where one copy of the environment lives. */
export interface EnvLocation {
  /** device or file path */
  path: string;
  /** byte offset of the copy; negative = from the end of the device (libubootenv semantics) */
  offset: number;
  /** bytes, the same for both copies */
  size: number;
}

export class FwEnvConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FwEnvConfigError';
  }
}

/** C strtoll(base 0): 0x.. hex, leading 0 octal, else decimal; an optional sign. */
function parseOffset(text: string): number | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!m) return undefined;
  const body = m[2]!;
  const n = /^0[xX]/.test(body) ? parseInt(body.slice(2), 16) : body.length > 1 && body.startsWith('0') ? parseInt(body, 8) : parseInt(body, 10);
  return m[1] === '-' ? -n : n;
}

/** scanf %zx: hexadecimal, with or without a 0x prefix. */
function parseHexSize(text: string): number | undefined {
  const m = /^(?:0[xX])?([0-9a-fA-F]+)$/.exec(text);
  return m ? parseInt(m[1]!, 16) : undefined;
}

/**
 * Returns one location (single environment) or two (redundant). Throws FwEnvConfigError naming the line when a
 * line cannot be read, when there is no location, or when the two copies differ in size.
 */
export function parseFwEnvConfig(text: string): [EnvLocation] | [EnvLocation, EnvLocation] {
  const out: EnvLocation[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && out.length < 2; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [path, off, size] = line.split(/\s+/);
    if (path === undefined || off === undefined || size === undefined) continue; // libubootenv skips short lines
    const offset = parseOffset(off);
    const bytes = parseHexSize(size);
    if (offset === undefined) throw new FwEnvConfigError(`line ${i + 1}: offset "${off}" is not a number (use decimal or 0x hex)`);
    if (bytes === undefined || bytes === 0) throw new FwEnvConfigError(`line ${i + 1}: environment size "${size}" is not a non-zero hexadecimal number`);
    out.push({ path, offset, size: bytes });
  }
  const [a, b] = out;
  if (a === undefined) throw new FwEnvConfigError('no environment location found (expected "DEVICE OFFSET SIZE" lines)');
  if (b === undefined) return [a];
  if (a.size !== b.size) throw new FwEnvConfigError(`the two environment copies differ in size (0x${a.size.toString(16)} and 0x${b.size.toString(16)})`);
  return [a, b];
}

/** Renders locations as fw_env.config text (for device folders and tests). */
export function formatFwEnvConfig(locations: readonly EnvLocation[]): string {
  const lines = locations.map((l) => `${l.path}\t${l.offset < 0 ? '-' : ''}0x${Math.abs(l.offset).toString(16)}\t0x${l.size.toString(16)}`);
  return `# device\toffset\tenv size\n${lines.join('\n')}\n`;
}
