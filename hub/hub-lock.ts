// One hub per job database: an exclusive lock held for the hub's lifetime on `<db>.lock`, next to the database (and
// the same kind of lock for whoever else needs one writer at a time, e.g. `fota broker` editing a password file).
// The lock is SQLite's own (POSIX fcntl record locks, taken by BEGIN IMMEDIATE and never committed), so the kernel
// drops it when the process dies, even by SIGKILL or a power cut: no stale lock to clean up by hand.
// The holder's pid and start time are written to `<lock>.pid` so a refused process can name it (informational only).

import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import Database from 'better-sqlite3';

export interface HubLock {
  release(): void;
}

export class HubLockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubLockError';
  }
}

function holder(pidFile: string): string {
  try {
    const h = JSON.parse(readFileSync(pidFile, 'utf8')) as { pid?: unknown; host?: unknown; started?: unknown };
    if (typeof h.pid !== 'number') return 'another process';
    return `pid ${h.pid}${typeof h.host === 'string' && h.host !== hostname() ? ` on ${h.host}` : ''}${typeof h.started === 'string' ? `, started ${h.started}` : ''}`;
  } catch {
    return 'another process (its pid is not known yet)';
  }
}

/**
 * Takes an exclusive lock on `file` (made when missing), held until release() or the process ends. Throws
 * HubLockError with `busy(holder)` when another process holds it ("pid 123, started …"), or saying why the lock
 * file cannot be made.
 */
export function takeFileLock(file: string, busy: (holder: string) => string): HubLock {
  const pidFile = `${file}.pid`;
  let lock: Database.Database;
  try {
    lock = new Database(file);
  } catch (e) {
    throw new HubLockError(`cannot create the lock ${file}: ${(e as Error).message}; its folder must be writable`);
  }
  try {
    lock.pragma('busy_timeout = 0');
    // rollback journal, so that the lock lives in the file itself (WAL's locks are in a -shm file and readers pass)
    lock.pragma('journal_mode = DELETE');
    lock.exec('BEGIN IMMEDIATE');
  } catch (e) {
    lock.close();
    const code = (e as { code?: string }).code ?? '';
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) throw new HubLockError(busy(holder(pidFile)));
    throw new HubLockError(`cannot take the lock ${file}: ${(e as Error).message}`);
  }
  try {
    writeFileSync(pidFile, `${JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() })}\n`);
  } catch {
    // informational only: the lock itself is held
  }
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      // never delete the lock file: a process that opened it just before would lock a file no one else can see
      try {
        lock.exec('ROLLBACK');
      } finally {
        lock.close();
      }
    },
  };
}

/**
 * Takes the lock for the job database at `db` (nothing for ":memory:"). Throws HubLockError naming the holder when
 * another hub has it, or when the lock file cannot be made (the message says which and where).
 */
export function lockHubDatabase(db: string): HubLock {
  if (db === ':memory:') return { release: () => undefined };
  return takeFileLock(`${db}.lock`, (h) => `the job database ${db} is in use by another hub (${h}); stop that hub first, or give this one its own --db`);
}
