// One hub per job database: an exclusive lock held for the hub's lifetime on `<db>.lock`, next to the database.
// The lock is SQLite's own (POSIX fcntl record locks, taken by BEGIN IMMEDIATE and never committed), so the kernel
// drops it when the hub dies, even by SIGKILL or a power cut: no stale lock to clean up by hand.
// The holder's pid and start time are written to `<db>.lock.pid` so a refused hub can name it (informational only).

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
 * Takes the lock for the job database at `db` (nothing for ":memory:"). Throws HubLockError naming the holder when
 * another hub has it, or when the lock file cannot be made (the message says which and where).
 */
export function lockHubDatabase(db: string): HubLock {
  if (db === ':memory:') return { release: () => undefined };
  const file = `${db}.lock`;
  const pidFile = `${file}.pid`;
  let lock: Database.Database;
  try {
    lock = new Database(file);
  } catch (e) {
    throw new HubLockError(`cannot create the hub lock ${file}: ${(e as Error).message}; the database's folder must be writable by the hub`);
  }
  try {
    lock.pragma('busy_timeout = 0');
    // rollback journal, so that the lock lives in the file itself (WAL's locks are in a -shm file and readers pass)
    lock.pragma('journal_mode = DELETE');
    lock.exec('BEGIN IMMEDIATE');
  } catch (e) {
    lock.close();
    const code = (e as { code?: string }).code ?? '';
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
      throw new HubLockError(`the job database ${db} is in use by another hub (${holder(pidFile)}); stop that hub first, or give this one its own --db`);
    }
    throw new HubLockError(`cannot take the hub lock ${file}: ${(e as Error).message}`);
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
      // never delete the lock file: a hub that opened it just before would lock a file no one else can see
      try {
        lock.exec('ROLLBACK');
      } finally {
        lock.close();
      }
    },
  };
}
