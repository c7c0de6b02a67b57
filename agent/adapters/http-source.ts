// The agent's package byte source over HTTP(S), on node-fetch v3 (the user's choice; one GET: http-fetch.ts). Range +
// If-Range resume, full-jitter backoff, connect and stall timeouts, the pace rules of download-pace.ts, redirects
// followed here (node-fetch's `redirect: 'manual'`) under the scheme policy and the address guard (address-guard.ts).
// Streams with backpressure; the body is buffered only in body-queue.ts's bounded queue, read in flowing mode so that
// an early close loses no byte received (node-fetch's pipeline would drop them). No URL credentials or query strings
// in any message.

import { rootCertificates } from 'node:tls';
import { FotaError } from '../core/errors.js';
import { checkHostLiteral, type Lookup } from './address-guard.js';
import { Pace, PROGRESS_BYTES } from './download-pace.js';
import { fetchOnce, type Fetched } from './http-fetch.js';
import { abortError, acceptResponse, checkScheme, networkError, REDIRECT_STATUS, Retryable, shown } from './http-response.js';
import { reclaimEvery } from './memory.js';

export interface HttpSourceOptions {
  allowedSchemes: readonly ('http' | 'https')[];
  /** extra trusted CA certificates (PEM) for https, added to Node's bundled roots */
  ca?: string;
  /** ms for TCP + TLS connect and the response headers of one request */
  connectTimeoutMs: number;
  /** ms without a body byte (while the consumer waits for one) before the attempt fails and is retried */
  stallTimeoutMs: number;
  /**
   * low-speed limit: fewer than this many bytes per second, over stallTimeoutMs of waiting, also counts as a stall
   * (a connection that trickles a segment now and then never trips the plain stall timeout; a new connection
   * usually recovers). 0 or absent: off.
   */
  minBytesPerSec?: number;
  /** the whole download must average this many bytes/s, over the time spent waiting for body bytes; 0 or absent: off */
  minAverageBytesPerSec?: number;
  /** ms for the whole download (this stream), retries and backoff included; 0 or absent: no deadline */
  deadlineMs?: number;
  /** retries after a failed attempt; counts consecutive failures without progress (see openHttpStream) */
  retries: number;
  /** backoff before retry n (1-based): random() × min(maxDelayMs, initialDelayMs × 2^(n-1)) ms ("full jitter") */
  initialDelayMs: number;
  maxDelayMs: number;
  /** default 5; a redirect to a scheme not in allowedSchemes is refused */
  maxRedirects?: number;
  userAgent?: string;
  /** abort → the open or the iteration rejects with an AbortError promptly, sockets destroyed */
  signal?: AbortSignal;
  /** bytes between minor GCs that free socket buffers early (agent/adapters/memory.ts); default 512 KiB, 0 = off */
  reclaimEveryBytes?: number;
  /** injectable for tests: default Math.random */
  random?: () => number;
  /** injectable for tests: default setTimeout, rejecting with an AbortError when `signal` fires */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** injectable for tests: the DNS lookup (default node:dns lookup); its answers are checked by address-guard.ts */
  lookup?: Lookup;
  /** called before each backoff; `attempt` is the 1-based retry number since the last progress, `offset` the byte */
  onRetry?(info: { attempt: number; delayMs: number; reason: string; offset: number }): void;
}

export interface HttpStream extends AsyncIterable<Uint8Array> {
  /** size of the whole resource in bytes, when the server said */
  readonly total: number | undefined;
  /** validator for If-Range: the strong ETag, else Last-Modified, else undefined. Persist it to resume later. */
  readonly etag: string | undefined;
  /** offset of the first byte this stream yields: the requested offset, or 0 when the server sent the whole resource */
  readonly start: number;
  /** Destroys the socket without reading further. Idempotent; needed only when the stream is never iterated. */
  close(): void;
}

/**
 * a minor GC per MiB keeps peak RSS ~30 MiB lower for a 1 GiB download (bench/http-client-compare.mjs); every 512 KiB
 * takes another ~1.5 MiB off the agent's peak at no measurable CPU cost (256 KiB: ~1 MiB more, but slower)
 */
const RECLAIM_BYTES = 512 << 10;
/**
 * the body queue's high-water mark (body-queue.ts): below it nothing received is lost at a cut; above it the body is
 * paused, and what node-fetch then holds (~48 KiB) is lost at a cut and fetched again. Kept well under RECLAIM_BYTES:
 * a chunk that waits in the queue across two minor GCs is promoted to the old generation and its socket buffer freed
 * only by a full GC (memory.ts: once ~6 MiB piled up; then: every 64 MiB): with a consumer slower than the network,
 * peak RSS over main's node:http was +30 MiB with a 1 MiB queue, +9 MiB with 512 KiB, +2 to +4 MiB with 256 KiB or
 * less (128 MiB, the agent's flags, 1 ms per chunk: bench/http-client-compare.mjs --delay-ms 1 --agent-flags --base,
 * docs/benchmarks.md)
 */
const QUEUE_BYTES = 128 << 10;
/**
 * the last bytes of a body of known size are read without pausing: a server whose Content-Length promised more closes
 * right after them, and bytes held for a paused queue would be lost at every attempt (the resume then sees a
 * shorter resource and refuses to splice). Costs at most this much more memory, once, at the end of a download.
 */
const TAIL_BYTES = 1 << 20;

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal, 'backoff'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal, 'backoff'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Opens `url` from byte `offset` (default 0) and resolves once response headers arrived (redirects followed).
 * With `validator` (an `etag` from an earlier stream) it sends `Range` + `If-Range`; when the resource changed
 * (or the server ignores Range) the whole resource comes back and `start` is 0: the caller must start over.
 *
 * The iterator yields the body with backpressure. On connection loss, premature end or stall it reconnects by
 * itself with `Range: bytes=<next>-` + `If-Range`, so the caller sees one continuous byte sequence; if the resource
 * changed in between it throws FotaError('connection-lost') saying so and never splices two versions.
 *
 * Retry budget: `retries` counts consecutive failed attempts without progress (fewer than PROGRESS_BYTES delivered);
 * an attempt that made progress resets the count, so a long download over a flaky link keeps going while it makes
 * progress, and a server that dribbles a few bytes per connection does not. A body of unknown length that ends is
 * confirmed with a Range request from its last byte (a close-delimited body cut by the network looks like its end).
 *
 * Throws FotaError: 'unsupported-scheme' (before any request), 'invalid-uri' (unparsable URL, unknown host, a
 * link-local or metadata address, 4xx other than 404/408/410/416/429, redirect loop or too many, TLS verification
 * failure, non-identity Content-Encoding), 'not-found' (404/410), 'too-slow' (deadline passed, average below its
 * minimum), and once retries are spent 'server-error' (5xx/408/429), 'connection-lost', 'stalled'.
 * Aborting `signal` rejects with an AbortError. The socket is closed when the iteration ends, breaks or fails.
 */
export async function openHttpStream(url: string, opts: HttpSourceOptions & { offset?: number; validator?: string }): Promise<HttpStream> {
  let target: URL;
  try {
    target = new URL(url);
  } catch (e) {
    throw new FotaError('invalid-uri', 'the package URI cannot be parsed as a URL', { cause: e });
  }
  checkScheme(target, opts.allowedSchemes, `the package URI ${target.protocol}//…`);
  checkHostLiteral(target, `the package URI ${shown(target)}`);
  if (opts.signal?.aborted) throw abortError(opts.signal, `download of ${shown(target)}`);
  const session = new Session(target, opts, opts.offset ?? 0, opts.validator);
  try {
    await session.connect(true);
  } catch (e) {
    session.close();
    throw e;
  }
  return session.stream();
}

/**
 * One download: the current request, the byte position, the retry state and the pace (download-pace.ts).
 * INVARIANTS: at most one request is open (`req`/`res`); `position` counts bytes yielded plus `start`;
 * `skip` bytes of the current body are dropped (a 200 to a resume whose strong ETag matched); after close()
 * nothing is opened again; once `fatal` is set (the deadline passed) every wait ends with it.
 */
class Session {
  private readonly where: string;
  private readonly ca: string[] | undefined;
  private readonly reclaim: (n: number) => void;
  private readonly pace: Pace;
  /** aborted by the caller's signal, close() or the deadline: ends a backoff sleep at once */
  private readonly halt = new AbortController();
  private readonly deadline: ReturnType<typeof setTimeout> | undefined;
  private fatal: FotaError | undefined;
  /** aborts the current request before its response (http-fetch.ts) */
  private req: AbortController | undefined;
  private res: Fetched | undefined;
  /** the URL of the latest request (after redirects): network errors name its host */
  private target: URL;
  private failures = 0;
  private skip = 0;
  /** the next request only confirms that a body of unknown length ended (Asked.endProbe) */
  private probing = false;
  /** the current body re-reads the whole resource after a probe (a 200): where it ends, the resource ends */
  private rereading = false;
  /** the resource ends at `position` */
  private ended = false;
  private closed = false;
  total: number | undefined;
  etag: string | undefined;
  start: number;

  constructor(
    private readonly url: URL,
    private readonly opts: HttpSourceOptions,
    private position: number,
    private validator: string | undefined,
  ) {
    this.where = shown(url);
    this.target = url;
    this.start = position;
    this.ca = opts.ca ? [...rootCertificates, opts.ca] : undefined;
    this.reclaim = reclaimEvery(opts.reclaimEveryBytes ?? RECLAIM_BYTES);
    const limits = { stallTimeoutMs: opts.stallTimeoutMs, minBytesPerSec: opts.minBytesPerSec ?? 0, minAverageBytesPerSec: opts.minAverageBytesPerSec ?? 0, deadlineMs: opts.deadlineMs ?? 0 };
    this.pace = new Pace(limits, performance.now());
    if (limits.deadlineMs > 0) this.deadline = setTimeout(() => this.stop(this.pace.deadlineError(this.position, this.total)), limits.deadlineMs);
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = () => {
    this.dispose(abortError(this.opts.signal, `download of ${this.where}`));
    this.halt.abort();
  };

  /** Ends the download with `error` wherever it waits (a request, a body read, a backoff). */
  private stop(error: FotaError): void {
    this.fatal ??= error;
    this.dispose(error);
    this.halt.abort();
  }

  /** the error that ends the download now: the fatal one, or an AbortError after abort/close; else undefined */
  private ending(): Error | undefined {
    if (this.fatal) return this.fatal;
    if (this.opts.signal?.aborted || this.closed) return abortError(this.opts.signal, `download of ${this.where}`);
    return undefined;
  }

  private dispose(error?: Error): void {
    this.res?.destroy(error);
    this.req?.abort();
    this.res = undefined;
    this.req = undefined;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.deadline);
    this.dispose();
    this.halt.abort();
    this.opts.signal?.removeEventListener('abort', this.onAbort);
  }

  stream(): HttpStream {
    let used = false;
    return {
      total: this.total,
      etag: this.etag,
      start: this.start,
      close: () => this.close(),
      [Symbol.asyncIterator]: () => {
        if (used) throw new Error('an HttpStream can be iterated only once');
        used = true;
        const body = this.body();
        // return() before the first next() would not run the generator's finally: close here as well
        return {
          next: () => body.next(),
          return: (value?: unknown) => {
            this.close();
            return body.return(value as undefined);
          },
          [Symbol.asyncIterator]() {
            return this;
          },
        };
      },
    };
  }

  /** Connects (following redirects), retrying with backoff; `first` is the open, else a resume mid-stream. */
  async connect(first: boolean): Promise<void> {
    for (;;) {
      try {
        return await this.follow(first);
      } catch (e) {
        this.dispose();
        await this.backoff(e);
      }
    }
  }

  /** Throws the final error, or sleeps before the next attempt. */
  private async backoff(e: unknown): Promise<void> {
    const { opts } = this;
    const end = this.ending();
    if (end) throw end;
    const error = networkError(e, this.target);
    if (!(error instanceof Retryable)) throw error;
    this.failures += 1;
    if (this.failures > opts.retries) {
      const tries = this.failures === 1 ? '1 attempt' : `${this.failures} attempts`;
      throw new FotaError(error.code, `${error.message}; gave up after ${tries} without progress (less than ${PROGRESS_BYTES / 1024} KiB each) at byte ${this.position}`, { cause: error.cause });
    }
    const cap = Math.min(opts.maxDelayMs, opts.initialDelayMs * 2 ** (this.failures - 1));
    const delayMs = Math.round((opts.random ?? Math.random)() * cap);
    // a backoff that would end after the deadline ends the download now, with the deadline's reason
    if (delayMs >= this.pace.remainingMs(performance.now())) throw this.pace.deadlineError(this.position, this.total);
    opts.onRetry?.({ attempt: this.failures, delayMs, reason: error.message, offset: this.position });
    await (opts.sleep ?? defaultSleep)(delayMs, this.halt.signal).catch(() => undefined);
    const after = this.ending();
    if (after) throw after;
  }

  private async follow(first: boolean): Promise<void> {
    let url = this.url;
    const seen = new Set([url.href]);
    for (let hops = 0; ; hops++) {
      const res = await this.request(url);
      const status = res.statusCode ?? 0;
      if (!REDIRECT_STATUS.has(status)) {
        if (this.accept(res, shown(url), first)) return;
        // the open's 206 carries another validator (the server ignored If-Range): ask for the whole new version
        this.dispose();
        this.position = 0;
        this.validator = undefined;
        return this.follow(first);
      }
      this.dispose();
      const location = res.headers.location;
      if (!location) throw new FotaError('invalid-uri', `${shown(url)} answered ${status} without a Location header`);
      let next: URL;
      try {
        next = new URL(location, url);
      } catch (e) {
        throw new FotaError('invalid-uri', `${shown(url)} redirected (${status}) to an unparsable location`, { cause: e });
      }
      const what = `the redirect from ${shown(url)} to ${shown(next)}`;
      checkScheme(next, this.opts.allowedSchemes, what);
      checkHostLiteral(next, what);
      if (seen.has(next.href)) throw new FotaError('invalid-uri', `redirect loop: the redirects from ${this.where} come back to ${shown(next)}`);
      if (hops >= (this.opts.maxRedirects ?? 5)) {
        throw new FotaError('invalid-uri', `too many redirects (more than ${this.opts.maxRedirects ?? 5}) starting at ${this.where}`);
      }
      seen.add(next.href);
      url = next;
    }
  }

  /** One GET; resolves with the response once headers arrived (within connectTimeoutMs). */
  private async request(url: URL): Promise<Fetched> {
    const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': this.opts.userAgent ?? 'fota-agent' };
    if (this.position > 0) {
      headers.range = `bytes=${this.position}-`;
      if (this.validator) headers['if-range'] = this.validator;
    }
    const ctl = new AbortController();
    this.req = ctl;
    this.target = url;
    // every DNS answer is checked too: a name may resolve to a metadata address (address-guard.ts)
    const res = await fetchOnce(url, { headers, lookup: this.opts.lookup, ca: this.ca, connectTimeoutMs: this.opts.connectTimeoutMs, queueBytes: QUEUE_BYTES, signal: ctl.signal });
    if (ctl.signal.aborted) {
      res.destroy();
      throw this.ending() ?? abortError(this.opts.signal, `download of ${this.where}`);
    }
    this.res = res;
    return res;
  }

  /**
   * Checks a final response against what was asked (acceptResponse); sets total/etag/start on the open, `skip`
   * on a resume, `ended` when the resource ends where we are. False when the open should be retried from byte 0.
   */
  private accept(res: Fetched, where: string, first: boolean): boolean {
    const asked = { position: this.position, validator: this.validator, total: this.total, endProbe: this.probing };
    this.probing = false;
    const ok = acceptResponse(res, where, first, asked);
    if (!ok) return false;
    this.rereading = asked.endProbe && ok.skip > 0;
    this.position = ok.position;
    this.skip = ok.skip;
    this.ended = ok.ended === true;
    if (first) {
      this.start = this.position;
      this.total = ok.total;
      this.etag = ok.validator;
      this.validator = this.etag;
    } else if (this.total === undefined && !this.ended) {
      this.total = ok.total;
    }
    return true;
  }

  private async *body(): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      for (;;) {
        let failure: unknown;
        const res = this.res;
        if (this.ended) return;
        if (!res) throw this.ending() ?? abortError(this.opts.signal, `download of ${this.where}`);
        this.pace.attempt();
        try {
          for (;;) {
            let chunk = await this.nextChunk(res);
            if (chunk === undefined) break;
            if (this.skip > 0) {
              const drop = Math.min(this.skip, chunk.length);
              this.skip -= drop;
              if (drop === chunk.length) continue;
              chunk = chunk.subarray(drop);
            }
            this.position += chunk.length;
            yield chunk;
            this.reclaim(chunk.length);
          }
          if (this.total !== undefined && this.position >= this.total) return;
          // a body of unknown length ended: ask for the next byte to tell its end from a cut (close-delimited bodies)
          if (this.total === undefined) {
            if (this.rereading) return;
            this.probing = true;
          }
          // a clean end before the total: the server sent a shorter range than asked (some CDNs cap ranges); one
          // that sends too little per response is a failure, or 1-byte ranges would keep the device busy for ever
          else if (!this.pace.progressed) failure = new Retryable('connection-lost', `${this.where} ended a response after ${this.pace.attemptBytes} bytes, at byte ${this.position} of ${this.total}`);
        } catch (e) {
          failure = e;
        }
        this.dispose();
        if (this.pace.progressed) this.failures = 0;
        if (failure !== undefined) await this.backoff(failure);
        await this.connect(false);
      }
    } finally {
      this.close();
    }
  }

  /**
   * The next chunk, or the stall error when, over stallTimeoutMs spent waiting here (time in the consumer does not
   * count), no byte came, or fewer than minBytesPerSec × stallTimeoutMs / 1000 (download-pace.ts); or the too-slow
   * error when the whole download's average fell below its minimum.
   */
  private async nextChunk(res: Fetched): Promise<Buffer | undefined> {
    // an abort, close() or the deadline ends the download at once, before chunks already queued
    const end = this.ending();
    if (end) throw end;
    const started = performance.now();
    const timer = setTimeout(() => {
      try {
        res.destroy(new Retryable('stalled', this.pace.stallVerdict(this.where, this.position)));
      } catch (e) {
        this.stop(e as FotaError);
      }
    }, this.pace.nextWaitMs());
    if (this.total !== undefined && this.total - this.position <= TAIL_BYTES) res.body.unbound();
    try {
      const chunk = await res.body.take();
      if (chunk) this.pace.received(chunk.length, performance.now() - started);
      return chunk;
    } catch (e) {
      throw this.fatal ?? e;
    } finally {
      clearTimeout(timer);
    }
  }
}
