// The HTTP(S) package source against a real fault-injecting server: resume, retries, redirects, TLS, abort.
// Backoff sleeps are faked (resolve at once) and jitter is fixed, so no test waits for a backoff.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openHttpStream, type HttpSourceOptions, type HttpStream } from '../../agent/adapters/http-source.js';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { makeTestCerts, type TestCerts } from '../helpers/tls.js';

const body = randomBytes(1024 * 1024 + 123);
const servers: FaultServer[] = [];
let certs: TestCerts;
let dir: string;

beforeAll(async () => {
  certs = await makeTestCerts();
  dir = await mkdtemp(path.join(os.tmpdir(), 'fota-http-source-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function serve(options: Parameters<typeof startFaultServer>[0] = { body }): Promise<FaultServer> {
  const srv = await startFaultServer(options);
  servers.push(srv);
  return srv;
}

interface RetryInfo {
  attempt: number;
  delayMs: number;
  reason: string;
  offset: number;
}

function options(over: Partial<HttpSourceOptions> = {}): HttpSourceOptions & { retried: RetryInfo[] } {
  const retried: RetryInfo[] = [];
  return {
    allowedSchemes: ['http'],
    connectTimeoutMs: 10_000,
    stallTimeoutMs: 10_000,
    retries: 3,
    initialDelayMs: 100,
    maxDelayMs: 1000,
    random: () => 0.5,
    sleep: async () => {},
    onRetry: (info) => retried.push(info),
    ...over,
    retried,
  };
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of stream) parts.push(chunk);
  return Buffer.concat(parts);
}

/** Reads until the stream fails; returns the bytes read and the error. */
async function collectUntilError(stream: HttpStream): Promise<{ bytes: Buffer; error: unknown }> {
  const parts: Uint8Array[] = [];
  try {
    for await (const chunk of stream) parts.push(chunk);
  } catch (error) {
    return { bytes: Buffer.concat(parts), error };
  }
  throw new Error('the stream ended without an error');
}

describe('openHttpStream', () => {
  it('downloads the body as is, asking for identity encoding', async () => {
    const srv = await serve();
    const stream = await openHttpStream(srv.url(), options());
    expect({ total: stream.total, etag: stream.etag, start: stream.start }).toEqual({ total: body.length, etag: srv.etag, start: 0 });
    expect((await collect(stream)).equals(body)).toBe(true);
    expect(srv.requests).toHaveLength(1);
    expect(srv.requests[0]!.headers['accept-encoding']).toBe('identity');
    expect(srv.requests[0]!.headers.range).toBeUndefined();
  });

  it('resumes a cut connection with Range + If-Range and yields identical bytes', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, cutAfter: 100_000 }]);
    const opts = options();
    expect((await collect(await openHttpStream(srv.url(), opts))).equals(body)).toBe(true);
    expect(srv.requests).toHaveLength(2);
    expect(srv.requests[1]!.headers.range).toBe('bytes=100000-');
    expect(srv.requests[1]!.headers['if-range']).toBe(srv.etag);
    expect(opts.retried).toEqual([{ attempt: 1, delayMs: 50, reason: expect.stringContaining('127.0.0.1'), offset: 100_000 }]);
  });

  it('resumes a large file body cut twice', async () => {
    const file = path.join(dir, 'big.bin');
    const big = randomBytes(8 * 1024 * 1024);
    await writeFile(file, big);
    const srv = await serve({ body: { file } });
    srv.setFaults([{ on: 1, cutAfter: 3_000_000 }, { on: 2, cutAfter: 2_000_000 }]);
    expect((await collect(await openHttpStream(srv.url(), options()))).equals(big)).toBe(true);
    expect(srv.requests.map((r) => r.headers.range)).toEqual([undefined, 'bytes=3000000-', 'bytes=5000000-']);
  });

  it('keeps going while attempts make progress: the retry budget counts failures without progress', async () => {
    const srv = await serve();
    srv.setFaults([1, 2, 3, 4].map((on) => ({ on, cutAfter: 200_000 })));
    expect((await collect(await openHttpStream(srv.url(), options({ retries: 1 })))).equals(body)).toBe(true);
    expect(srv.requests).toHaveLength(5);
  });

  it('continues at once, without a retry, when the server answers a resume with a shorter range', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, cutAfter: 100_000 }, { on: 'every', rangeCap: 400_000 }]);
    const opts = options();
    expect((await collect(await openHttpStream(srv.url(), opts))).equals(body)).toBe(true);
    expect(srv.requests.map((r) => r.headers.range)).toEqual([undefined, 'bytes=100000-', 'bytes=500000-', 'bytes=900000-']);
    expect(opts.retried).toHaveLength(1); // the cut only
  });

  it('resumes after a stall in the body', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, stallAfter: 50_000 }]);
    const opts = options({ stallTimeoutMs: 300 });
    expect((await collect(await openHttpStream(srv.url(), opts))).equals(body)).toBe(true);
    expect(srv.requests[1]!.headers.range).toBe('bytes=50000-');
    expect(opts.retried[0]!.reason).toMatch(/no data .* for 300 ms at byte 50000/);
  });

  it('reconnects a download that trickles below minBytesPerSec, and resumes where it was', async () => {
    const srv = await serve();
    // the first connection sends ~4 KB/s: bytes keep coming, so only the low-speed limit can catch it
    srv.setFaults([{ on: 1, throttle: 4000 }]);
    const opts = options({ stallTimeoutMs: 500, minBytesPerSec: 20_000 });
    expect((await collect(await openHttpStream(srv.url(), opts))).equals(body)).toBe(true);
    expect(opts.retried).toHaveLength(1);
    expect(opts.retried[0]!.reason).toMatch(/only \d+ bytes from .* in 500 ms, below the minimum of 20000 bytes\/s/);
    expect(opts.retried[0]!.offset).toBeGreaterThan(0);
    expect(srv.requests[1]!.headers.range).toBe(`bytes=${opts.retried[0]!.offset}-`);
  });

  it('leaves a slow download alone while it stays above minBytesPerSec', async () => {
    const srv = await serve({ body: body.subarray(0, 30_000) });
    srv.setFaults([{ on: 1, throttle: 40_000 }]); // ~0.75 s for the whole body
    const opts = options({ stallTimeoutMs: 300, minBytesPerSec: 5000 });
    expect((await collect(await openHttpStream(srv.url(), opts))).equals(body.subarray(0, 30_000))).toBe(true);
    expect(opts.retried).toHaveLength(0);
    expect(srv.requests).toHaveLength(1);
  });

  it('retries when the response headers do not come within connectTimeoutMs', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, noResponse: true }]);
    const opts = options({ connectTimeoutMs: 300 });
    expect((await collect(await openHttpStream(srv.url(), opts))).equals(body)).toBe(true);
    expect(opts.retried[0]!.reason).toMatch(/did not answer within 300 ms/);
  });

  it('gives up with stalled when every attempt stalls', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 'every', stallAfter: 0 }]);
    const stream = await openHttpStream(srv.url(), options({ stallTimeoutMs: 200, retries: 1 }));
    const { bytes, error } = await collectUntilError(stream);
    expect(error).toMatchObject({ name: 'FotaError', code: 'stalled', message: expect.stringContaining('gave up after 2 attempts') });
    expect(bytes.length).toBe(0);
    expect(srv.requests).toHaveLength(2);
  });

  it('maps 404 and 410 to not-found without retrying', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, status: 404 }, { on: 2, status: 410 }]);
    await expect(openHttpStream(srv.url(), options())).rejects.toMatchObject({ code: 'not-found' });
    await expect(openHttpStream(srv.url(), options())).rejects.toMatchObject({ code: 'not-found' });
    expect(srv.requests).toHaveLength(2);
  });

  it('maps an unknown host to invalid-uri without retrying', async () => {
    const opts = options();
    // RFC 6761: names under .invalid never resolve
    await expect(openHttpStream('http://pkg.example.invalid/pkg.tar', opts)).rejects.toMatchObject({
      code: 'invalid-uri',
      message: expect.stringContaining('unknown host "pkg.example.invalid"'),
    });
    expect(opts.retried).toHaveLength(0);
  });

  it('maps other 4xx to invalid-uri without retrying', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 'every', status: 403 }]);
    await expect(openHttpStream(srv.url(), options())).rejects.toMatchObject({ code: 'invalid-uri', message: expect.stringContaining('403') });
    expect(srv.requests).toHaveLength(1);
  });

  it('succeeds after a 500 followed by a 200', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, status: 500 }]);
    const opts = options();
    expect((await collect(await openHttpStream(srv.url(), opts))).equals(body)).toBe(true);
    expect(opts.retried).toHaveLength(1);
    expect(opts.retried[0]!.reason).toContain('500');
  });

  it('gives up with server-error after `retries` retries of a 5xx', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 'every', status: 503 }]);
    const opts = options({ retries: 2, initialDelayMs: 100, maxDelayMs: 150 });
    await expect(openHttpStream(srv.url(), opts)).rejects.toMatchObject({ code: 'server-error', message: expect.stringMatching(/503.*gave up after 3 attempts/) });
    expect(srv.requests).toHaveLength(3);
    // full jitter with random() = 0.5: half of min(maxDelayMs, initialDelayMs × 2^(n-1))
    expect(opts.retried.map((r) => r.delayMs)).toEqual([50, 75]);
  });

  it('gives up with connection-lost when the server dies mid-body and does not come back', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, stallAfter: 200_000 }]);
    const stream = await openHttpStream(srv.url(), options({ retries: 2 }));
    const it = stream[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    await srv.close();
    let error: unknown;
    try {
      while (!(await it.next()).done);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ name: 'FotaError', code: 'connection-lost', message: expect.stringContaining('gave up after 3 attempts') });
  });

  it('refuses to splice two versions when the resource changes between attempts', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, cutAfter: 100_000 }]);
    const changed = Buffer.from(body).fill(7, 0, 200_000);
    const stream = await openHttpStream(srv.url(), options({ onRetry: () => srv.setBody(changed) }));
    const { bytes, error } = await collectUntilError(stream);
    expect(error).toMatchObject({ code: 'connection-lost', message: expect.stringMatching(/changed on the server.*start the download again/) });
    expect(bytes.equals(body.subarray(0, 100_000))).toBe(true);
    expect(srv.requests[1]!.headers['if-range']).not.toBe(srv.etag);
  });

  it('refuses to splice when the server ignores If-Range and answers 206 for a changed resource', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, cutAfter: 100_000 }, { on: 2, ignoreIfRange: true }]);
    const stream = await openHttpStream(srv.url(), options({ onRetry: () => srv.setBody(Buffer.from(body).fill(1)) }));
    const { bytes, error } = await collectUntilError(stream);
    expect(error).toMatchObject({ code: 'connection-lost', message: expect.stringContaining('changed on the server') });
    expect(bytes.equals(body.subarray(0, 100_000))).toBe(true);
    expect(srv.requests[1]!.headers.range).toBe('bytes=100000-');
  });

  it('skips the bytes it has when the server ignores Range on a resume but the strong ETag matches', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, cutAfter: 100_000 }, { on: 2, ignoreRange: true }]);
    expect((await collect(await openHttpStream(srv.url(), options()))).equals(body)).toBe(true);
    expect(srv.requests[1]!.headers.range).toBe('bytes=100000-');
  });

  it('fails clearly when the server ignores Range on a resume and the validator is not a strong ETag', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, cutAfter: 100_000, etag: 'W/"weak"' }, { on: 2, ignoreRange: true, etag: 'W/"weak"' }]);
    const { bytes, error } = await collectUntilError(await openHttpStream(srv.url(), options()));
    expect(error).toMatchObject({ code: 'connection-lost', message: expect.stringContaining('ignored Range') });
    expect(bytes.length).toBe(100_000);
    expect(srv.requests[1]!.headers['if-range']).toMatch(/GMT$/); // fell back to Last-Modified for If-Range
  });

  it('opens from an offset with the current validator', async () => {
    const srv = await serve();
    const stream = await openHttpStream(srv.url(), { ...options(), offset: 1000, validator: srv.etag });
    expect(stream.start).toBe(1000);
    expect(stream.total).toBe(body.length);
    expect((await collect(stream)).equals(body.subarray(1000))).toBe(true);
  });

  it('starts over (start 0) when opened from an offset with a stale validator', async () => {
    const srv = await serve();
    const stream = await openHttpStream(srv.url(), { ...options(), offset: 1000, validator: '"stale"' });
    expect({ start: stream.start, etag: stream.etag }).toEqual({ start: 0, etag: srv.etag });
    expect((await collect(stream)).equals(body)).toBe(true);
    expect(srv.requests[0]!.headers).toMatchObject({ range: 'bytes=1000-', 'if-range': '"stale"' });
  });

  it('asks for the whole resource when opened with a stale validator and the server ignores If-Range', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 'every', ignoreIfRange: true }]);
    const stream = await openHttpStream(srv.url(), { ...options(), offset: 1000, validator: '"stale"' });
    expect({ start: stream.start, etag: stream.etag }).toEqual({ start: 0, etag: srv.etag });
    expect((await collect(stream)).equals(body)).toBe(true);
    expect(srv.requests.map((r) => r.headers.range)).toEqual(['bytes=1000-', undefined]);
  });

  it('refuses unsupported schemes and bad URLs without any request', async () => {
    const srv = await serve();
    await expect(openHttpStream('ftp://127.0.0.1/pkg.tar', options())).rejects.toMatchObject({ code: 'unsupported-scheme' });
    await expect(openHttpStream('file:///etc/passwd', options())).rejects.toMatchObject({ code: 'unsupported-scheme' });
    await expect(openHttpStream(srv.url(), options({ allowedSchemes: ['https'] }))).rejects.toMatchObject({ code: 'unsupported-scheme' });
    await expect(openHttpStream('not a url', options())).rejects.toMatchObject({ code: 'invalid-uri' });
    expect(srv.requests).toHaveLength(0);
  });

  it('refuses a redirect to https when only http is allowed, and follows it when https is allowed', async () => {
    const secure = await serve({ body, tls: certs });
    const plain = await serve();
    plain.setFaults([{ on: 'every', redirect: secure.url('/moved.tar'), redirectStatus: 301 }]);
    await expect(openHttpStream(plain.url(), options())).rejects.toMatchObject({ code: 'unsupported-scheme', message: expect.stringContaining('redirect') });
    expect(secure.requests).toHaveLength(0);
    const stream = await openHttpStream(plain.url(), options({ allowedSchemes: ['http', 'https'], ca: certs.ca }));
    expect((await collect(stream)).equals(body)).toBe(true);
    expect(secure.requests.map((r) => r.url)).toEqual(['/moved.tar']);
  });

  it('reports a redirect loop as invalid-uri', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 'every', redirect: '/pkg.tar' }]);
    await expect(openHttpStream(srv.url(), options())).rejects.toMatchObject({ code: 'invalid-uri', message: expect.stringContaining('redirect loop') });
  });

  it('trusts the configured CA for https, and fails with a TLS message without it', async () => {
    const srv = await serve({ body, tls: certs });
    const stream = await openHttpStream(srv.url(), options({ allowedSchemes: ['https'], ca: certs.ca }));
    expect((await collect(stream)).equals(body)).toBe(true);
    await expect(openHttpStream(srv.url(), options({ allowedSchemes: ['https'] }))).rejects.toMatchObject({
      code: 'invalid-uri',
      message: expect.stringMatching(/TLS verification of 127\.0\.0\.1:\d+ failed/),
    });
  });

  it('refuses a gzip Content-Encoding', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 'every', gzipHeader: true }]);
    await expect(openHttpStream(srv.url(), options())).rejects.toMatchObject({ code: 'invalid-uri', message: expect.stringContaining('gzip') });
  });

  it('stops promptly on abort and closes the socket', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 'every', stallAfter: 100_000 }]);
    const abort = new AbortController();
    const stream = await openHttpStream(srv.url(), options({ signal: abort.signal, stallTimeoutMs: 600_000 }));
    const it = stream[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    const pending = (async () => {
      while (!(await it.next()).done);
    })();
    abort.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await srv.idle();
    expect(srv.openConnections).toBe(0);
    expect(srv.requests).toHaveLength(1);
  });

  it('closes the socket when aborted before the first read, and the read then throws an AbortError', async () => {
    const srv = await serve();
    const abort = new AbortController();
    const stream = await openHttpStream(srv.url(), options({ signal: abort.signal }));
    abort.abort();
    await srv.idle();
    await expect(collect(stream)).rejects.toMatchObject({ name: 'AbortError' });
    expect(srv.requests).toHaveLength(1);
  });

  it('rejects the open with an AbortError when the signal fires during backoff', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 'every', status: 503 }]);
    const abort = new AbortController();
    const sleep = () => (abort.abort(), Promise.resolve());
    await expect(openHttpStream(srv.url(), options({ signal: abort.signal, sleep }))).rejects.toMatchObject({ name: 'AbortError' });
    expect(srv.requests).toHaveLength(1);
  });

  it('closes the socket when the consumer breaks out, or closes a stream it never read', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 'every', stallAfter: 100_000 }]);
    for await (const chunk of await openHttpStream(srv.url(), options())) {
      expect(chunk.length).toBeGreaterThan(0);
      break;
    }
    await srv.idle();
    (await openHttpStream(srv.url(), options())).close();
    await srv.idle();
    expect(srv.openConnections).toBe(0);
  });

  it('keeps credentials and query strings out of errors and retry reasons', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, status: 503 }, { on: 2, status: 404 }]);
    const opts = options();
    const url = srv.url('/pkg.tar?X-Amz-Signature=s3cr3tsig').replace('://', '://alice:hunter2@');
    const error = (await openHttpStream(url, opts).then(
      () => undefined,
      (e: unknown) => e,
    )) as Error;
    expect(error).toMatchObject({ code: 'not-found', message: expect.stringContaining(`${srv.origin}/pkg.tar`) });
    for (const text of [error.message, ...opts.retried.map((r) => r.reason)]) {
      expect(text).not.toMatch(/s3cr3tsig|X-Amz|hunter2|alice/);
    }
    expect(srv.requests[0]!.url).toBe('/pkg.tar?X-Amz-Signature=s3cr3tsig'); // the query still reaches the server
  });
});
