// Errors that cross a port: a stable string `code` (what the daemon maps to an LwM2M Update Result)
// plus a readable message and the underlying cause. Pure: no IO.

/** Every failure an adapter or platform can report. Stable strings: they reach the hub (Object 5 vendor resource). */
export const ERROR_CODES = [
  'no-space', // the image does not fit the slot, or the disk is full (ENOSPC)
  'out-of-memory', // ENOMEM while downloading
  'connection-lost', // the package server stopped answering and retries are exhausted
  'server-error', // the package server answered 5xx until retries were exhausted
  'stalled', // no byte arrived within the stall timeout, retries exhausted
  'too-slow', // the download passed its overall deadline or fell below its minimum average rate
  'integrity-mismatch', // payload SHA-256 or size differs from the signed manifest
  'signature-invalid', // the manifest signature does not verify (tampered manifest)
  'unsigned-package', // no signature, and unsigned packages are not allowed
  'untrusted-key', // signed, but by a key the agent does not trust
  'unsupported-package', // not a fota package, wrong entries, unknown format version, hostile archive
  'incompatible-device', // the manifest does not list this device type
  'downgrade-refused', // a version below the installed one (without a job allowing it) or below the security floor
  'invalid-uri', // the URI cannot be parsed, the host is unknown, or the server refuses it (4xx)
  'not-found', // 404 / 410
  'unsupported-scheme', // a URI scheme the agent is not configured to use
  'activation-failed', // the bootloader could not be told to try the new slot
  'health-check-failed', // the new firmware booted but did not pass the health check
  'boot-failed', // the new firmware never came up; the bootloader fell back (boot counter exhausted)
  'commit-failed', // the new slot could not be marked good
  'unsupported', // the platform cannot do this (e.g. factory reset)
  'io-error', // any other local I/O failure
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class FotaError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FotaError';
    this.code = code;
  }
}

export function isFotaError(e: unknown): e is FotaError {
  return e instanceof FotaError;
}

/** Turns anything thrown into a FotaError, keeping the code when there is one. */
export function toFotaError(e: unknown, fallback: ErrorCode = 'io-error'): FotaError {
  if (e instanceof FotaError) return e;
  const err = e as { code?: unknown; message?: unknown } | undefined;
  const message = typeof err?.message === 'string' ? err.message : String(e);
  if (err?.code === 'ENOSPC') return new FotaError('no-space', `no space left on the device (${message})`, { cause: e });
  if (err?.code === 'ENOMEM') return new FotaError('out-of-memory', `out of memory (${message})`, { cause: e });
  return new FotaError(fallback, message, { cause: e });
}
