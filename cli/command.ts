// The shape of a `fota` subcommand and the small dispatcher around node:util parseArgs.
// Every command has a summary, a usage text (shown by --help) and typed options.

import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { explainArgError } from '../protocol/suggest.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

export interface Command {
  /** words after `fota`, e.g. "sim image" */
  name: string;
  summary: string;
  /** full help text: usage line, description, options, an example */
  usage: string;
  options?: Options;
  /** how many positionals the command takes at least / at most */
  positionals?: { min: number; max: number };
  /**
   * Custom matching for commands whose words are split by an argument (`fota device ID read PATH`):
   * returns the argv left for parseArgs, or undefined when it does not match.
   */
  match?(argv: string[]): string[] | undefined;
  run(args: Parsed): Promise<number>;
}

/** A failure to show the user as one line (plus an optional hint), with an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export const EXIT = { ok: 0, failure: 1, usage: 2, timeout: 3, config: 78 } as const;

export function usageError(message: string, hint?: string): CliError {
  return new CliError(message, EXIT.usage, hint);
}

/** Reads a file named on the command line; a failure is a usage error naming `what`. */
export function readArgFile(what: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw usageError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function str(v: Parsed['values'][string]): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function strs(v: Parsed['values'][string]): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
}

export function requireOpt(args: Parsed, name: string): string {
  const v = str(args.values[name]);
  if (v === undefined || v === '') throw usageError(`--${name} is required`);
  return v;
}

/** Parses "30", "30s", "5m", "1h" into seconds. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw usageError(`${what} must be a duration such as 30s, 25m or 1h (got "${text}")`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return unit === 'ms' ? n / 1000 : unit === 'm' ? n * 60 : unit === 'h' ? n * 3600 : n;
}

/** Parses "64M", "1G", "4096", "512K" into bytes (binary units). */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+)([KMG]i?B?)?$/i.exec(text.trim());
  if (!m) throw usageError(`${what} must be a size such as 4096, 512K, 64M or 1G (got "${text}")`);
  const unit = (m[2] ?? '').charAt(0).toUpperCase();
  const mult = unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : 1;
  return Number(m[1]) * mult;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'it already exists',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EADDRINUSE: 'the address is in use (another process listens there)',
  EADDRNOTAVAIL: 'the address is not on this machine',
  ECONNREFUSED: 'connection refused',
};

const ERRNO_HINT: Record<string, string> = {
  EADDRINUSE: 'choose another --listen HOST:PORT, or stop the other process',
  EADDRNOTAVAIL: 'listen on an address of this machine (127.0.0.1, 0.0.0.0, or one of its interfaces)',
};

/**
 * A system error caused by what the user asked (a folder that does not exist, a port in use) as one line with a
 * hint, instead of a stack trace; undefined for anything else (a bug keeps its stack).
 */
export function systemError(e: unknown): CliError | undefined {
  const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
  const text = typeof err?.code === 'string' ? ERRNO_TEXT[err.code] : undefined;
  if (!text || typeof err.syscall !== 'string') return undefined;
  const target = err.path ?? (err.address !== undefined ? `${err.address}${err.port !== undefined ? `:${err.port}` : ''}` : '');
  const verb = err.syscall === 'listen' || err.syscall === 'bind' ? 'listen on' : err.syscall === 'connect' ? 'connect to' : err.syscall === 'mkdir' ? 'create' : 'open';
  return new CliError(`cannot ${verb} ${target}: ${text}`, EXIT.failure, err.code ? ERRNO_HINT[err.code] : undefined);
}

export function parseFor(cmd: Command, argv: string[]): Parsed {
  const options: Options = { help: { type: 'boolean', short: 'h' }, ...(cmd.options ?? {}) };
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as Parsed;
  } catch (e) {
    throw usageError(explainArgError(e, Object.keys(options)), `see: fota ${cmd.name} --help`);
  }
  const { min, max } = cmd.positionals ?? { min: 0, max: 0 };
  const n = parsed.positionals.length;
  if (!parsed.values.help && (n < min || n > max)) throw usageError(n < min ? 'missing argument' : `unexpected argument "${parsed.positionals[max]}"`, `see: fota ${cmd.name} --help`);
  return parsed;
}
