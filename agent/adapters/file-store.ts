// Store port on a file: atomic replace (write temp, fsync, rename, fsync the directory), versioned envelope.
// A torn write can only leave the temp file behind; the previous document stays intact.

import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Store } from '../core/ports.js';

export const STORE_FORMAT = 1;

interface Envelope {
  format: number;
  savedAt: string;
  data: unknown;
}

export class FileStore implements Store<unknown> {
  private readonly file: string;

  constructor(dir: string, name = 'state.json') {
    this.file = join(dir, name);
  }

  get path(): string {
    return this.file;
  }

  /** undefined when nothing was saved; throws an Error naming the file when it is unreadable or of a newer format. */
  async load(): Promise<unknown> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    let env: Envelope;
    try {
      env = JSON.parse(text) as Envelope;
    } catch {
      throw new Error(`${this.file} is not valid JSON`);
    }
    if (typeof env !== 'object' || env === null || typeof env.format !== 'number') throw new Error(`${this.file} has no format version`);
    if (env.format > STORE_FORMAT) throw new Error(`${this.file} was written by a newer agent (format ${env.format}); refusing to guess`);
    return env.data;
  }

  async save(value: unknown): Promise<void> {
    const dir = dirname(this.file);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp`;
    const body = JSON.stringify({ format: STORE_FORMAT, savedAt: new Date().toISOString(), data: value } satisfies Envelope, null, 1);
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }

  /** Moves an unreadable document aside (kept for inspection) so the agent can start from a clean state. */
  async quarantine(): Promise<string> {
    const aside = `${this.file}.corrupt-${Date.now()}`;
    await rename(this.file, aside).catch(() => rm(this.file, { force: true }));
    return aside;
  }
}
