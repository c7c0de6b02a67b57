// How a browser proves who it is to the hub: the session cookie, plus on every API request the CSRF token in a
// header, an Origin (when sent) that is the hub's own, and Fetch Metadata (when sent) that says same-origin.
// SameSite=Strict alone is not enough: another port of the same host is the same *site* (RFC 6265bis §5.2).

import type { IncomingMessage } from 'node:http';
import { ApiError } from '../api/api-errors.js';
import { SESSION_COOKIE, SESSION_TTL_MS, sameSecret, type Session, type Sessions } from './sessions.js';

export const CSRF_HEADER = 'x-csrf-token';

/** The value of cookie `name` in the Cookie header, or undefined. */
export function cookieValue(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Set-Cookie header of a new session (or of its end, with `id` empty). No Domain: the hub's host only. */
export function sessionCookie(req: IncomingMessage, id: string): string {
  // behind a TLS proxy the cookie must never travel in clear; over plain http (loopback) it cannot be Secure
  const secure = req.headers['x-forwarded-proto'] === 'https' ? '; Secure' : '';
  const age = id === '' ? 0 : Math.floor(SESSION_TTL_MS / 1000);
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${age}${secure}`;
}

/** The request comes from a page of the hub's own origin, as far as the browser says (Origin, Sec-Fetch-Site). */
export function sameOrigin(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false; // "null" (a sandboxed frame, a redirect chain) and junk
  }
}

/**
 * The session of an API request that carries the session cookie, checked against CSRF; undefined when the request
 * carries no session cookie (it is then judged as before: bearer token or loopback rules).
 * Throws ApiError 401 for an unknown or expired session, 403 for a request from another origin or without the CSRF token.
 */
export function browserSession(req: IncomingMessage, sessions: Sessions): Session | undefined {
  const id = cookieValue(req, SESSION_COOKIE);
  if (id === undefined || id === '') return undefined;
  const session = sessions.get(id);
  if (!session) throw new ApiError(401, 'unauthorized', 'the dashboard session has expired or the hub restarted: log in again at /ui/');
  if (!sameOrigin(req)) throw new ApiError(403, 'forbidden', 'a request from another origin is refused');
  const csrf = req.headers[CSRF_HEADER];
  if (typeof csrf !== 'string' || !sameSecret(csrf, session.csrf)) throw new ApiError(403, 'forbidden', 'the CSRF token is missing or wrong: reload the dashboard');
  return session;
}
