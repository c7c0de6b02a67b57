// What an HTTP answer means for a package download (http-source.ts): status and network-error classification,
// TLS error codes, Content-Range and validator parsing, and the verdict on a response to an open or a resume.
// Pure: no IO, no timers. Messages never carry credentials or query strings of a URL.

import type { IncomingHttpHeaders } from 'node:http';
import { redactUrl } from '../../protocol/redact.js';
import { FotaError } from '../core/errors.js';

export const REDIRECT_STATUS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
/** OpenSSL verification codes Node reports as `err.code` (plus ERR_TLS_* / ERR_SSL_* prefixes). */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE', 'CERT_REVOKED', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'HOSTNAME_MISMATCH',
  'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'EPROTO',
]);

/** A failure worth another attempt (connection lost, 5xx, stall); anything else is final. */
export class Retryable extends FotaError {}

/** scheme://host/path: no user info, query or fragment (protocol/redact.ts, shared with the hub) */
export const shown = (url: URL): string => redactUrl(url.href);

/** The AbortError a download rejects with; `what` names what was aborted ("download of …", "backoff"). */
export function abortError(signal: AbortSignal | undefined, what: string): Error {
  return Object.assign(new Error(`${what} aborted`, { cause: signal?.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}

/** Throws FotaError('unsupported-scheme') unless `url` uses one of the allowed schemes; `what` names the URL. */
export function checkScheme(url: URL, allowedSchemes: readonly string[], what: string): void {
  const scheme = url.protocol.slice(0, -1);
  if (!allowedSchemes.includes(scheme)) {
    const allowed = allowedSchemes.join(', ') || 'none';
    throw new FotaError('unsupported-scheme', `${what} uses the scheme "${scheme}", but this agent only downloads over: ${allowed}`);
  }
}

/** the strong ETag, else Last-Modified: what If-Range may carry (RFC 9110 §13.1.5 forbids weak ETags there) */
export function validatorOf(res: { headers: IncomingHttpHeaders }): string | undefined {
  const etag = res.headers.etag;
  if (etag && !etag.startsWith('W/')) return etag;
  return res.headers['last-modified'];
}

/** `bytes START-END/TOTAL` (TOTAL may be `*`); undefined for anything else. */
export function parseContentRange(value: string | undefined): { start: number; total: number | undefined } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value?.trim() ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/** A status other than 200/206 as a FotaError: not-found (404/410), `Retryable` server-error (5xx/408/429), else invalid-uri. */
export function statusError(status: number, where: string): FotaError {
  if (status === 404 || status === 410) {
    return new FotaError('not-found', `${where} answered ${status}: the package is not there; check the URI`);
  }
  if (status >= 500 || status === 408 || status === 429) {
    return new Retryable('server-error', `${where} answered ${status}; the package server is failing or overloaded`);
  }
  return new FotaError('invalid-uri', `${where} refused the request with status ${status}; check the URI and its credentials`);
}

/** Turns a socket/TLS/DNS error into a FotaError; `Retryable` when another attempt may succeed. */
export function networkError(e: unknown, url: URL): FotaError {
  if (e instanceof FotaError) return e;
  const code = String((e as { code?: unknown } | undefined)?.code ?? '');
  const detail = code || (e as Error | undefined)?.message || String(e);
  if (code === 'ENOTFOUND') {
    return new FotaError('invalid-uri', `unknown host "${url.hostname}" (DNS lookup failed); check the URI`, { cause: e });
  }
  if (TLS_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_')) {
    const msg = (e as Error).message;
    return new FotaError('invalid-uri', `TLS verification of ${url.host} failed (${code}: ${msg}); if the server uses a private CA, configure its certificate`, { cause: e });
  }
  return new Retryable('connection-lost', `connection to ${url.host} lost (${detail})`, { cause: e });
}

/** What a request asked for: the byte it starts at, the validator sent in If-Range, the total known so far. */
export interface Asked {
  position: number;
  validator: string | undefined;
  total: number | undefined;
  /**
   * the request only checks that a body of unknown length really ended at `position` (a close-delimited body cut by
   * the network looks exactly like its end): a 206 brings the rest; a 200 with the same strong ETag is the whole
   * resource again (its first `position` bytes are skipped, so what follows is the rest); any other 200 cannot say,
   * and the end stands
   */
  endProbe?: boolean;
}

/** An accepted response. */
export interface Accepted {
  /** the byte the body starts at: the asked position, or 0 when an open got the whole resource back */
  position: number;
  /** bytes at the start of the body to drop (a 200 to a resume whose strong ETag matched) */
  skip: number;
  /** size of the whole resource, when the response says */
  total: number | undefined;
  /** the resource's validator: the response's, else (on a 206) the one asked with */
  validator: string | undefined;
  /** the resource ends at `position`: nothing more to read (a 416 from there, or an end probe the server cannot answer) */
  ended?: boolean;
}

/**
 * Checks a final response against what was asked; `first` for the open, else a resume mid-stream.
 * Undefined when the open should be retried from byte 0 without Range (its 206 carries another validator).
 * `ended` when the resource ends at the asked position (see Accepted). Throws FotaError: statusError's codes; 'invalid-uri' for a non-identity Content-Encoding; 'connection-lost'
 * for a 206 from the wrong byte, or a resource that changed during the download.
 */
export function acceptResponse(res: { statusCode?: number | undefined; headers: IncomingHttpHeaders }, where: string, first: boolean, asked: Asked): Accepted | undefined {
  const status = res.statusCode ?? 0;
  const end = (): Accepted => ({ position: asked.position, skip: 0, total: asked.position, validator: asked.validator, ended: true });
  // RFC 9110 §15.5.17: 416 to a Range from byte P, with `bytes */P`, says the resource is P bytes long: it ends here
  // (a Content-Length that promised more was wrong; whether the package is complete is the package reader's call)
  if (status === 416 && asked.position > 0) {
    const size = /^bytes \*\/(\d+)$/.exec(res.headers['content-range']?.trim() ?? '')?.[1];
    if (size === undefined || Number(size) === asked.position) return end();
    throw new Retryable('server-error', `${where} answered 416 (range not satisfiable) to a request from byte ${asked.position} but says the package has ${size} bytes; the server contradicts itself`);
  }
  if (status !== 200 && status !== 206) throw statusError(status, where);
  const encoding = res.headers['content-encoding']?.trim().toLowerCase();
  if (encoding && encoding !== 'identity') {
    throw new FotaError('invalid-uri', `${where} sent Content-Encoding "${encoding}" although the agent asked for identity; serve packages without on-the-fly compression`);
  }
  const changed = (why: string) =>
    new FotaError('connection-lost', `the package at ${where} changed on the server during the download (${why}); mixing bytes of two versions is refused: start the download again from byte 0`);
  const got = validatorOf(res);
  let position = asked.position;
  let skip = 0;
  let total: number | undefined;
  if (status === 206) {
    const range = parseContentRange(res.headers['content-range']);
    if (!range || range.start !== asked.position) {
      const header = res.headers['content-range'] ?? 'no Content-Range';
      throw new FotaError('connection-lost', `${where} answered 206 with "${header}" to a request from byte ${asked.position}; cannot resume safely`);
    }
    if (got && asked.validator && got !== asked.validator) {
      if (first) return undefined;
      throw changed(`validator ${asked.validator} became ${got}`);
    }
    if (!first && range.total !== undefined && asked.total !== undefined && range.total !== asked.total) {
      throw changed(`size ${asked.total} became ${range.total}`);
    }
    total = range.total;
  } else {
    const length = res.headers['content-length'];
    total = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
    if (asked.position > 0 && first) {
      position = 0; // the server sent the whole resource: the caller starts over
    } else if (asked.position > 0) {
      const strong = asked.validator?.startsWith('"') === true && got === asked.validator && total === asked.total;
      if (!strong && asked.endProbe) return end();
      if (!strong) throw changed(got === asked.validator ? 'the server ignored Range and gave no strong ETag to prove it is the same' : `validator ${asked.validator ?? 'none'} became ${got ?? 'none'}`);
      skip = asked.position; // same version, Range ignored: drop the bytes already delivered
    }
  }
  return { position, skip, total, validator: got ?? (status === 206 ? asked.validator : undefined) };
}
