// Stream machinery of the package install (package-install.ts): the Session that races work against the first
// failure, the Channel from node-tar's synchronous events to async slot writes, the PayloadSink, the zero
// Trailer and a sliced gunzip. Memory stays bounded by about one source chunk; no byte reaches the slot after a failure.

import type { Hash } from 'node:crypto';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { MAX_TRAILER_BYTES, type Manifest } from '../../protocol/package-format.js';
import type { JsonValue } from '../../protocol/messages.js';
import type { PackageInfo, SlotWriter } from '../core/ports.js';
import { FotaError, toFotaError } from '../core/errors.js';

/** What the stream machinery uses of the install options; InstallOptions (package-install.ts) extends it. */
export interface StreamOptions {
  /** the inactive slot; only opening a writer is needed here (sha256: the image's, for the slot's read-back check) */
  slot: { open(opts: { size: number; offset?: number; sha256?: string }): Promise<SlotWriter> };
  /** payload bytes written to the slot / payload size */
  progress?(written: number, total: number): void;
  /**
   * called once the slot was synced up to `point.written` (the next bytes may be written meanwhile); persist the point
   * to resume after a restart
   */
  checkpoint?(point: ResumePoint): void;
  /** bytes of payload between checkpoints; default 16 MiB */
  checkpointBytes?: number;
  /** abort → rejects with an AbortError, the slot writer is aborted */
  signal?: AbortSignal;
}

/** JSON-serialisable resume data (assignable to ResumeToken). Not signed: it is local state, re-verified on use. */
export interface ResumePoint {
  [k: string]: JsonValue;
  /** the exact manifest.json text (valid UTF-8, so it round-trips to the signed bytes) */
  manifest: string;
  /** base64 of manifest.sig, or null for an unsigned package */
  signature: string | null;
  /** byte offset of the payload's first data byte in the package */
  payloadOffset: number;
  /** payload bytes durable in the slot */
  written: number;
  /**
   * hex SHA-256 of those `written` bytes, to find a slot changed since the checkpoint before downloading the rest.
   * Absent when the slot writer checks the image (SlotWriter.checksImage): its read-back of bytes 0..size against the
   * signed SHA-256 finds such a change after the rest was downloaded, and no byte was hashed on its way in.
   */
  writtenSha256?: string;
}

const DEFAULT_CHECKPOINT_BYTES = 16 * 1024 * 1024;
/** gzip input is fed in slices this small so one slice cannot inflate to more than ~4 MiB at once */
const GUNZIP_SLICE = 4096;
const FAILED = Symbol('failed');

/** the two FotaErrors a bad package raises (shared with package-install.ts) */
export const unsupported = (msg: string, cause?: unknown): FotaError => new FotaError('unsupported-package', msg, { cause });
export const mismatch = (msg: string): FotaError => new FotaError('integrity-mismatch', msg);
const asBuffer = (c: Uint8Array): Buffer => (Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength));

/**
 * INVARIANTS: one failure wins and is final; after it no byte reaches the slot (every slot call goes through
 * `track`, and cleanup waits for the one in flight before aborting the writer); the caller's promise settles
 * even when the source or the slot hangs (it races the work against the failure).
 */
export class Session<O extends StreamOptions = StreamOptions> {
  writer: SlotWriter | undefined;
  #error: unknown;
  #failed = false;
  #wakers = new Set<() => void>();
  #busy: Promise<unknown> = Promise.resolve();
  #iterator: AsyncIterator<Uint8Array> | undefined;
  readonly #onAbort = (): void => this.fail(this.opts.signal?.reason);

  constructor(readonly opts: O) {
    if (opts.signal?.aborted) this.fail(opts.signal.reason);
    else opts.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  get failed(): boolean {
    return this.#failed;
  }

  fail(e: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    const abort = e instanceof Error && e.name === 'AbortError';
    this.#error = abort ? e : this.opts.signal?.aborted ? new DOMException('package install aborted', 'AbortError') : toFotaError(e);
    for (const wake of this.#wakers) wake();
  }

  /**
   * `p`, or FAILED as soon as the session fails. Not Promise.race against one long-lived promise: every race
   * would leave a reaction on it that keeps its settled value (here: a source chunk) alive until the session ends.
   */
  orFailure<T>(p: Promise<T>): Promise<T | typeof FAILED> {
    if (this.#failed) return Promise.resolve(FAILED);
    return new Promise((resolve, reject) => {
      const wake = (): void => resolve(FAILED);
      this.#wakers.add(wake);
      p.then(
        (v) => (this.#wakers.delete(wake), resolve(v)),
        (e: unknown) => (this.#wakers.delete(wake), reject(e)),
      );
    });
  }

  /** throws the session's error when it failed */
  check(): void {
    if (this.#failed) throw this.#error;
  }

  /** next source chunk; undefined at the end of the source or after a failure */
  async next(source: AsyncIterable<Uint8Array>): Promise<Buffer | undefined> {
    this.#iterator ??= source[Symbol.asyncIterator]();
    const r = await this.orFailure(this.#iterator.next());
    return r === FAILED || r.done || this.#failed ? undefined : asBuffer(r.value);
  }

  /**
   * Starts one slot operation unless the session failed: `start` runs only after the check, so nothing touches a
   * writer that run() is aborting (and no rejection of such a late write goes unhandled). run() waits for the
   * latest tracked operation before it aborts the writer.
   */
  track<T>(start: () => Promise<T>): Promise<T> {
    this.check();
    const p = start();
    this.#busy = p.catch(() => undefined);
    return p;
  }

  open(size: number, offset: number, sha256: string): Promise<SlotWriter> {
    return this.track(async () => (this.writer = await this.opts.slot.open(offset > 0 ? { size, offset, sha256 } : { size, sha256 })));
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    const w = work();
    w.catch((e: unknown) => this.fail(e));
    const r = await this.orFailure(w);
    this.opts.signal?.removeEventListener('abort', this.#onAbort);
    if (r !== FAILED && !this.#failed) return r as T;
    this.#iterator?.return?.().catch(() => undefined);
    await this.#busy;
    await this.writer?.abort();
    throw this.#error;
  }
}

/**
 * Writes payload bytes into the slot: counts, reports progress, checkpoints, and checks the bytes against the manifest's
 * SHA-256. A writer that checks the image itself (`checksImage`: it hashes the slot's bytes as it reads them back) is
 * left to do it: one SHA-256 pass over the image instead of two, ~0.6 CPU-s less per GiB here (docs/benchmarks.md).
 */
export class PayloadSink {
  #lastCheckpoint: number;
  /** the hash of the bytes handed in, when the writer does not check the image */
  readonly #hash: Hash | undefined;
  /**
   * The checkpoint in flight: its fdatasync runs while the next chunks are written (fdatasyncs took ~40 ms each,
   * 2.6 s per GiB during which the download stood still, on the loop device of docs/benchmarks.md); its resume point
   * is recorded only once the fdatasync returned. At most one: the next checkpoint and finish() wait for it, and
   * throw its error.
   */
  #syncing: Promise<void> | undefined;
  constructor(
    private readonly m: Manifest,
    private readonly writer: SlotWriter,
    private readonly opts: StreamOptions,
    private readonly point: Pick<ResumePoint, 'manifest' | 'signature' | 'payloadOffset'>,
    /** the hash of the payload's first `written` bytes */
    hash: Hash,
    public written: number,
  ) {
    this.#lastCheckpoint = written;
    this.#hash = writer.checksImage ? undefined : hash;
  }

  async write(chunk: Buffer): Promise<void> {
    const size = this.m.payload.size;
    if (this.written + chunk.length > size) {
      throw mismatch(`the payload is larger than the ${size} bytes its manifest declares (a corrupt package or a decompression bomb); refusing it`);
    }
    this.#hash?.update(chunk);
    await this.writer.write(chunk);
    this.written += chunk.length;
    this.opts.progress?.(this.written, size);
    const every = this.opts.checkpointBytes ?? DEFAULT_CHECKPOINT_BYTES;
    const checkpoint = this.opts.checkpoint;
    if (checkpoint && this.m.payload.compression === 'none' && this.written - this.#lastCheckpoint >= every && this.written < size) {
      await this.#synced();
      // an abort ends the download at the checkpoint it interrupted: none is recorded after it
      const signal = this.opts.signal;
      if (signal?.aborted) return;
      this.#lastCheckpoint = this.written;
      // with a writer that checks the image, nothing here hashed the bytes: its read-back checks them on resume too
      const point: ResumePoint = { ...this.point, written: this.written };
      if (this.#hash) point.writtenSha256 = this.#hash.copy().digest('hex');
      const syncing = this.writer.sync().then(() => {
        if (!signal?.aborted) checkpoint(point);
      });
      syncing.catch(() => undefined); // surfaced by #synced()
      this.#syncing = syncing;
    }
  }

  /** Waits for the checkpoint in flight (and throws its error). */
  async #synced(): Promise<void> {
    const syncing = this.#syncing;
    this.#syncing = undefined;
    await syncing;
  }

  async finish(): Promise<PackageInfo> {
    await this.#synced();
    const { size, sha256 } = this.m.payload;
    if (this.written !== size) throw mismatch(`the payload ended after ${this.written} of the ${size} bytes its manifest declares`);
    const actual = this.#hash?.digest('hex');
    if (actual !== undefined && actual !== sha256) {
      throw mismatch(`payload SHA-256 mismatch: the manifest says ${sha256}, the ${size} bytes written hash to ${actual}; the package is corrupt — rebuild or re-upload it`);
    }
    // make it durable, and let the slot prove (read-back) it holds exactly these bytes (the image's, when it checks them)
    await this.writer.finish();
    const info: PackageInfo = { name: this.m.name, version: this.m.version, payloadSize: size, sha256 };
    if (this.m.securityFloor !== undefined) info.securityFloor = this.m.securityFloor;
    return info;
  }
}

/** Zero bytes after the payload: tar padding, the end-of-archive blocks, record padding. Nothing else. */
export class Trailer {
  bytes = 0;
  add(buf: Buffer): void {
    this.bytes += buf.length;
    if (this.bytes > MAX_TRAILER_BYTES) throw unsupported(`more than ${MAX_TRAILER_BYTES} bytes follow the payload; a fota package ends with it`);
    if (buf.some((b) => b !== 0)) throw unsupported('data follows the payload; only zero padding and the end-of-archive blocks may come after it');
  }
  finish(min: number): void {
    if (this.bytes < min) throw mismatch(`the package is truncated: it ends ${this.bytes} bytes after the payload, without the end-of-archive blocks`);
  }
}

/**
 * A queue between the parser's synchronous 'data' events and the async slot writes, with one consumer.
 * `idle()` resolves once the consumer has taken everything and asks for more (or stopped): the feeder waits for
 * it before it takes the next source chunk, which bounds memory to about one chunk.
 */
export class Channel implements AsyncIterable<Buffer> {
  #queue: Buffer[] = [];
  #closed = false;
  #waiting = false;
  #stopped = false;
  #wakeConsumer: (() => void) | undefined;
  #idlers: (() => void)[] = [];

  push(c: Buffer): void {
    this.#queue.push(c);
    this.#wakeConsumer?.();
  }
  close(): void {
    this.#closed = true;
    this.#wakeConsumer?.();
  }
  idle(): Promise<void> {
    return new Promise((resolve) => (this.#isIdle() ? resolve() : this.#idlers.push(resolve)));
  }
  #isIdle(): boolean {
    return this.#stopped || (this.#waiting && this.#queue.length === 0);
  }
  #notify(): void {
    if (this.#isIdle()) for (const r of this.#idlers.splice(0)) r();
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        const c = this.#queue.shift();
        if (c) yield c;
        else if (this.#closed) return;
        else {
          this.#waiting = true;
          this.#notify();
          await new Promise<void>((r) => (this.#wakeConsumer = r));
          this.#waiting = false;
        }
      }
    } finally {
      this.#stopped = true;
      this.#notify();
    }
  }
}

async function* slices(input: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  for await (const c of input) for (let i = 0; i < c.length; i += size) yield c.subarray(i, i + size);
}

/** Inflates a gzip payload as a stream; a malformed or truncated gzip stream is an integrity mismatch. */
export async function* gunzip(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const z = createGunzip();
  pipeline(Readable.from(slices(input, GUNZIP_SLICE), { highWaterMark: 1 }), z, () => undefined);
  try {
    for await (const c of z) yield c as Buffer;
  } catch (e) {
    throw mismatch(`the gzip payload does not inflate (${(e as Error).message}); the package is corrupt`);
  } finally {
    z.destroy();
  }
}
