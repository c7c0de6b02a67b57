// Browser sessions of the dashboard: a random session id (in an HttpOnly SameSite=Strict cookie) and a CSRF token
// (in the page, sent back in a header). In memory only: a hub restart logs everyone out. Bounded: the oldest go first.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'fota_session';
/** a session lasts this long from its login, however active it is (then the token is asked again) */
export const SESSION_TTL_MS = 12 * 3600_000;
const DEFAULT_MAX_SESSIONS = 256;

export interface Session {
  /** the CSRF token every request of the session carries in X-CSRF-Token */
  csrf: string;
  expires: number;
}

const digest = (s: string): string => createHash('sha256').update(s, 'utf8').digest('base64url');

/** True when `a` and `b` are the same string, in time independent of where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a, 'utf8').digest();
  const y = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(x, y) && a.length === b.length;
}

export class Sessions {
  /** by the session id's SHA-256 (the id itself is kept nowhere), in creation order */
  private readonly byDigest = new Map<string, Session>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly max = DEFAULT_MAX_SESSIONS,
  ) {}

  /** A new session; its id goes into the cookie and nowhere else. */
  create(): { id: string; session: Session } {
    while (this.byDigest.size >= this.max) this.byDigest.delete(this.byDigest.keys().next().value as string);
    const id = randomBytes(32).toString('base64url');
    const session = { csrf: randomBytes(24).toString('base64url'), expires: this.now() + SESSION_TTL_MS };
    this.byDigest.set(digest(id), session);
    return { id, session };
  }

  /** The live session of this id, or undefined (unknown, or expired: then forgotten). */
  get(id: string): Session | undefined {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    const key = digest(id);
    const s = this.byDigest.get(key);
    if (s && s.expires <= this.now()) {
      this.byDigest.delete(key);
      return undefined;
    }
    return s;
  }

  delete(id: string): void {
    this.byDigest.delete(digest(id));
  }

  get size(): number {
    return this.byDigest.size;
  }
}
