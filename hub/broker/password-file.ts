// Mosquitto's password_file (`user:$7$iterations$salt$hash`, what mosquitto_passwd writes), read, verified and
// written the way Mosquitto 2.0 does (src/security_default.c; PBKDF2-HMAC-SHA512 with a 12-byte salt and a 64-byte
// hash, or the older `$6$` salted SHA-512), so the embedded broker and Mosquitto share one file. No file IO here.

import { createHash, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/** mosquitto_passwd's default: the cost is paid by the broker at every connect, and our passwords are random. */
export const PBKDF2_ITERATIONS = 101;

interface Hash {
  kind: '6' | '7';
  iterations: number;
  salt: Buffer;
  hash: Buffer;
}

export class PasswordFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PasswordFileError';
  }
}

/** The hash part of a line; undefined when Mosquitto would drop the entry (it logs and removes it too). */
function parseHash(text: string): Hash | undefined {
  const parts = text.split('$');
  if (parts[0] !== '') return undefined;
  const kind = parts[1];
  const [iterations, salt, hash] = kind === '7' ? [Number(parts[2]), parts[3], parts[4]] : kind === '6' ? [1, parts[2], parts[3]] : [0, undefined, undefined];
  if (!(iterations >= 1) || salt === undefined || hash === undefined) return undefined;
  const s = Buffer.from(salt, 'base64');
  const h = Buffer.from(hash, 'base64');
  return s.length === 12 && h.length === 64 ? { kind: kind as '6' | '7', iterations, salt: s, hash: h } : undefined;
}

function digest(password: string, h: Pick<Hash, 'kind' | 'iterations' | 'salt'>): Buffer {
  if (h.kind === '7') return pbkdf2Sync(password, h.salt, h.iterations, 64, 'sha512');
  return createHash('sha512').update(password, 'utf8').update(h.salt).digest();
}

/** The lines of a password file: user name → its hash text; comments and lines without ':' are skipped. */
export function parsePasswordFile(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const raw of text.split('\n')) {
    if (raw.startsWith('#') || !raw.includes(':')) continue;
    const [user = '', hash = ''] = raw.split(':').map((p) => p.trim());
    if (user !== '') users.set(user, hash);
  }
  return users;
}

/** Whether `password` is `user`'s in the file's users (constant time in the hash comparison). */
export function verifyPassword(users: Map<string, string>, user: string, password: string): boolean {
  const text = users.get(user);
  const h = text === undefined ? undefined : parseHash(text);
  if (!h) return false;
  const got = digest(password, h);
  return got.length === h.hash.length && timingSafeEqual(got, h.hash);
}

/** A new hash text for `password` (`$7$101$salt$hash`). */
export function hashPassword(password: string): string {
  const salt = randomBytes(12);
  const hash = digest(password, { kind: '7', iterations: PBKDF2_ITERATIONS, salt });
  return `$7$${PBKDF2_ITERATIONS}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** The file text with `user` set to `hash` (added at the end, or replaced in place), or removed with `hash` null. */
export function withUser(text: string, user: string, hash: string | null): string {
  if (user.includes(':') || /\s/.test(user) || user === '') throw new PasswordFileError(`"${user}" cannot be a user name in a password file`);
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const at = lines.findIndex((l) => !l.startsWith('#') && l.split(':')[0]?.trim() === user);
  if (hash === null) {
    if (at < 0) throw new PasswordFileError(`${user} is not in the password file`);
    lines.splice(at, 1);
  } else if (at < 0) lines.push(`${user}:${hash}`);
  else lines[at] = `${user}:${hash}`;
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** A random password: 32 bytes, base64url (no character a shell or a config file would trip over). */
export function randomPassword(): string {
  return randomBytes(32).toString('base64url');
}
