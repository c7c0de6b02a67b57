// Store port on a file: atomic replace (write temp, fsync, rename, fsync the directory), versioned envelope.
// A torn write can only leave the temp file behind; the previous document stays intact. Optionally a second copy
// (`<name>.bak`, written the same way after the first) that load() falls back on when the file is unreadable.
//
// INVARIANTS
// - Saves of one path run one at a time in this process, in call order (a module-wide queue per path), whatever
//   FileStore instance they come from: two concurrent writers never interleave (issue 9 #3: a shared fixed temp name
//   and unserialised writes gave invalid JSON).
// - Every temporary file has a unique name (pid, random tag, counter), so another process writing the same path cannot
//   clobber it, nor a file left before a reboot by a process that had the same pid; a load removes only those of
//   processes that are gone.
// - With `reserveBytes`, a file of that size is kept beside the document and given up only by saveFailure() on ENOSPC,
//   so a full disk can still record the failure it caused (issue 10 #4); a later save puts it back once there is room.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Store } from '../core/ports.js';

const queues = new Map<string, Promise<unknown>>();
let tmpCounter = 0;
/**
 * This process's mark in its temp files' names, after the pid: a random tag, because a pid comes back. After a power
 * cut mid-save a board boots the same services in the same order, and the agent can get the pid it had: its leftover
 * temp file would be taken for this process's, kept, and its name (pid and counter) reused.
 */
const TMP_TAG = `${process.pid}-${randomBytes(4).toString('hex')}`;

/** Runs `job` after every earlier job queued for `path` has settled. */
function serialised<T>(path: string, job: () => Promise<T>): Promise<T> {
  const run = (queues.get(path) ?? Promise.resolve()).then(job, job);
  const tail = run.catch(() => undefined);
  queues.set(path, tail);
  void tail.then(() => {
    if (queues.get(path) === tail) queues.delete(path);
  });
  return run;
}

export const STORE_FORMAT = 1;

/** Room kept for the state's failure records: a few times the document (~2 KiB) and its temp file, in 4 KiB blocks. */
export const STATE_RESERVE_BYTES = 64 * 1024;

/** The agent's state document (STATE_DIR/state.json), with its reserve for recording a full disk. */
export function agentStateStore(stateDir: string): FileStore {
  return new FileStore(stateDir, 'state.json', { reserveBytes: STATE_RESERVE_BYTES });
}

interface Envelope {
  format: number;
  savedAt: string;
  data: unknown;
}

export class FileStore implements Store<unknown> {
  private readonly file: string;
  /** the reserve file is known to be in place */
  private reserved = false;

  /** `backup`: keep a second copy (`<name>.bak`) that `loadWithBackup()` falls back on */
  constructor(
    dir: string,
    name = 'state.json',
    private readonly opts: { backup?: boolean; reserveBytes?: number } = {},
  ) {
    this.file = join(dir, name);
  }

  get path(): string {
    return this.file;
  }

  get where(): string {
    return this.file;
  }

  /** undefined when nothing was saved; throws an Error naming the file when it is unreadable or of a newer format. */
  async load(): Promise<unknown> {
    return readDocument(this.file);
  }

  /**
   * Like load(), but when the file is unreadable the backup copy is used instead: `error` then says what was wrong
   * and `from` says the backup was used. Throws only when neither copy can be read (naming both problems).
   */
  async loadWithBackup(): Promise<{ value: unknown; from: 'file' | 'backup'; error?: string }> {
    try {
      return { value: await readDocument(this.file), from: 'file' };
    } catch (e) {
      const error = (e as Error).message;
      try {
        const value = await readDocument(`${this.file}.bak`);
        if (value === undefined) throw new Error(`${this.file}.bak does not exist`);
        return { value, from: 'backup', error };
      } catch (b) {
        throw new Error(`${error}; and its backup: ${(b as Error).message}`);
      }
    }
  }

  /** Throws on any failure (ENOSPC, EROFS, EACCES…); the previous document is then intact and no temp file is left. */
  save(value: unknown): Promise<void> {
    return serialised(this.file, async () => {
      await this.write(value);
      await this.keepReserve();
    });
  }

  /** As save(), but on ENOSPC the reserve is given up and the save tried once more: for a record of a failure. */
  saveFailure(value: unknown): Promise<void> {
    return serialised(this.file, async () => {
      try {
        await this.write(value);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC' || !this.opts.reserveBytes) throw e;
        await rm(this.reserveFile, { force: true });
        this.reserved = false;
        await this.write(value);
      }
    });
  }

  private get reserveFile(): string {
    return `${this.file}.reserve`;
  }

  private async write(value: unknown): Promise<void> {
    const body = JSON.stringify({ format: STORE_FORMAT, savedAt: new Date().toISOString(), data: value } satisfies Envelope, null, 1);
    await writeAtomically(this.file, body);
    if (this.opts.backup) await writeAtomically(`${this.file}.bak`, body);
  }

  /** Puts the reserve back when it is missing; a disk without room for it yet is no error. */
  private async keepReserve(): Promise<void> {
    const bytes = this.opts.reserveBytes;
    if (!bytes || this.reserved) return;
    this.reserved = await stat(this.reserveFile).then(
      (st) => st.size >= bytes,
      () => false,
    );
    if (this.reserved) return;
    try {
      // real blocks (not a sparse file), or giving it up would free nothing
      await writeFile(this.reserveFile, new Uint8Array(bytes), { mode: 0o600 });
      this.reserved = true;
    } catch {
      await rm(this.reserveFile, { force: true }).catch(() => undefined);
    }
  }

  /** Moves an unreadable document aside (kept for inspection) so the agent can start from a clean state. */
  async quarantine(): Promise<string> {
    const aside = `${this.file}.corrupt-${Date.now()}`;
    await rename(this.file, aside).catch(() => rm(this.file, { force: true }));
    return aside;
  }
}

/** undefined when the file does not exist; throws an Error naming the file when it is unreadable or newer. */
async function readDocument(file: string): Promise<unknown> {
  await removeStaleTemps(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  let env: Envelope;
  try {
    env = JSON.parse(text) as Envelope;
  } catch {
    throw new Error(`${file} is not valid JSON`);
  }
  if (typeof env !== 'object' || env === null || typeof env.format !== 'number') throw new Error(`${file} has no format version`);
  if (env.format > STORE_FORMAT) throw new Error(`${file} was written by a newer agent (format ${env.format}); refusing to guess`);
  return env.data;
}

/**
 * Temp files of `file` left by a process that is gone (a power cut or a kill mid-save): unique names would otherwise
 * pile up. Never a live process's: a command that reads the agent's state (`fota-agent status`) while the agent saves
 * it would delete the temp file the agent is about to rename, and the agent, its save failed, gives up the update.
 * One with this process's pid but not its tag (TMP_TAG; or none: an older agent's) is from before a reboot.
 */
async function removeStaleTemps(file: string): Promise<void> {
  const base = basename(file);
  const names = await readdir(dirname(file)).catch(() => [] as string[]);
  for (const n of names) {
    const m = /^(.*)\.((\d+)(?:-[0-9a-f]+)?)\.\d+\.tmp$/.exec(n);
    if (!m || (m[1] !== base && m[1] !== `${base}.bak`) || m[2] === TMP_TAG) continue;
    const pid = Number(m[3]);
    if (pid === process.pid || !isRunning(pid)) await rm(join(dirname(file), n), { force: true }).catch(() => undefined);
  }
}

/** Whether a process with this pid exists (one of another user's counts too). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** write a unique temp file, fsync it, rename it over `file`, fsync the directory (the rename is durable) */
async function writeAtomically(file: string, body: string): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${TMP_TAG}.${++tmpCounter}.tmp`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
