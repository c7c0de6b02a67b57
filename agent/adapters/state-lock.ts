// One process per state directory: a lock held by the kernel, not by a file. The lock is a Linux abstract Unix
// socket named after the directory's real path (unix(7): abstract names vanish when their last holder exits, so a
// crash, SIGKILL or power cut can never leave a stale lock behind, and bind() decides a race between two starters).
// Whoever asks the held name learns the holder's pid and role, so a refusal can say which process holds the state.
//
// INVARIANTS
// - At most one process binds the name of a directory at a time (the kernel refuses the second bind: EADDRINUSE).
// - The lock lives exactly as long as the returned handle is not released and the process is alive.
// Limits: abstract names are per network namespace; two containers sharing one state folder through a bind mount
// but not their network namespace would not see each other's lock.

import { createHash } from 'node:crypto';
import { mkdirSync, realpathSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';

/** Who holds a state directory. */
export interface LockHolder {
  pid: number;
  /** what the holder is doing: "agent", "fota-agent install", … */
  role: string;
  /** ISO time the lock was taken */
  since: string;
}

export interface StateLock {
  readonly dir: string;
  release(): Promise<void>;
}

/** The state directory is held by another process; `holder` says which (undefined when it did not answer). */
export class StateLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly holder: LockHolder | undefined,
  ) {
    super(`the state directory ${dir} is in use by ${holder ? `${holder.role} (pid ${holder.pid}, since ${holder.since})` : 'another process'}`);
    this.name = 'StateLockedError';
  }
}

function lockName(dir: string): string {
  let real = dir;
  try {
    real = realpathSync(dir);
  } catch {
    // a directory that cannot be resolved is locked under the name it was given
  }
  return `\0fota-agent-state:${createHash('sha256').update(real).digest('hex').slice(0, 40)}`;
}

/** Asks the holder of `name` who it is (1 s at most). */
function askHolder(name: string): Promise<LockHolder | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const sock = connect(name);
    const done = (h: LockHolder | undefined) => {
      sock.destroy();
      resolve(h);
    };
    sock.setTimeout(1000, () => done(undefined));
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      text += d;
      if (text.length > 4096) done(undefined);
    });
    sock.on('end', () => {
      try {
        const h = JSON.parse(text) as LockHolder;
        done(typeof h.pid === 'number' && typeof h.role === 'string' ? h : undefined);
      } catch {
        done(undefined);
      }
    });
    sock.on('error', () => done(undefined));
  });
}

/** Who holds the lock of `dir` right now, without taking it (undefined when nobody does, or it did not answer). */
export function stateLockHolder(dir: string): Promise<LockHolder | undefined> {
  return process.platform === 'linux' ? askHolder(lockName(dir)) : Promise.resolve(undefined);
}

/**
 * Takes the lock of `dir` (created 0700 when missing) for this process. Throws StateLockedError when another process
 * holds it. On systems without abstract sockets (not Linux) it returns an unenforced handle.
 */
export async function acquireStateLock(dir: string, role: string): Promise<StateLock> {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch {
    // a read-only or missing state directory is reported by whoever writes it; the lock does not need it
  }
  if (process.platform !== 'linux') return { dir, release: async () => undefined };
  const name = lockName(dir);
  const me: LockHolder = { pid: process.pid, role, since: new Date().toISOString() };
  const server: Server = createServer((sock) => sock.end(`${JSON.stringify(me)}\n`));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(name, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (e: NodeJS.ErrnoException) => {
    if (e.code === 'EADDRINUSE') throw new StateLockedError(dir, await askHolder(name));
    throw e;
  });
  // the lock must not keep a finished process alive
  server.unref();
  let released = false;
  return {
    dir,
    release: () =>
      new Promise<void>((resolve) => {
        if (released) return resolve();
        released = true;
        server.close(() => resolve());
      }),
  };
}
