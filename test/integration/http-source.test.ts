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

  it('resumes a chunked body (no Content-Length) cut by the network', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 'every', framing: 'chunked' }, { on: 1, cutAfter: 100_000 }]);
    const stream = await openHttpStream(srv.url(), options());
    expect((await collect(stream)).equals(body)).toBe(true);
    expect(srv.requests[1]!.headers.range).toBe('bytes=100000-');
  });

  it('resumes a close-delimited body cut by the network: the end of a body of unknown length is confirmed with Range', async () => {
    const srv = await serve();
    // HTTP/1.0 framing: no Content-Length, the end is the server closing; a cut looks exactly like the end
    srv.setFaults([{ on: 1, framing: 'close', cutAfter: 100_000 }]);
    expect((await collect(await openHttpStream(srv.url(), options()))).equals(body)).toBe(true);
    // the cut: confirmed as a cut by a request from byte 100000, whose 206 brings the rest and the size
    expect(srv.requests.map((r) => r.headers.range)).toEqual([undefined, 'bytes=100000-']);
    // an end that is real: the request from the last byte is answered 416 (bytes */size)
    srv.setFaults([{ on: 'every', framing: 'close' }]);
    expect((await collect(await openHttpStream(srv.url(), options()))).equals(body)).toBe(true);
    expect(srv.requests.slice(2).map((r) => r.headers.range)).toEqual([undefined, `bytes=${body.length}-`]);
    // a server without Range support, same strong ETag: the probe's 200 is the whole resource again; what follows
    // the bytes already delivered is the rest (a retry), and where that body ends the resource ends
    srv.setFaults([{ on: 'every', framing: 'close', ignoreRange: true }, { on: 5, cutAfter: 100_000 }]);
    expect((await collect(await openHttpStream(srv.url(), options()))).equals(body)).toBe(true);
    expect(srv.requests.slice(4).map((r) => r.headers.range)).toEqual([undefined, 'bytes=100000-']);
    // without a strong ETag nothing proves the 200 is the same resource: the end stands (the package reader judges)
    srv.setFaults([{ on: 'every', framing: 'close', ignoreRange: true, etag: 'W/"weak"' }, { on: 7, cutAfter: 100_000 }]);
    expect((await collect(await openHttpStream(srv.url(), options()))).length).toBe(100_000);
    expect(srv.requests).toHaveLength(8);
  });

  it('ends a body whose Content-Length was larger than the body where the server says the resource ends (416)', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, lengthExtra: 5000 }]);
    const opts = options();
    const stream = await openHttpStream(srv.url(), opts);
    expect(stream.total).toBe(body.length + 5000);
    // the package reader judges whether what arrived is complete; the source never turns this into "status 416"
    expect((await collect(stream)).equals(body)).toBe(true);
    expect(srv.requests.map((r) => r.headers.range)).toEqual([undefined, `bytes=${body.length}-`]);
  });

  // A server that closes while the consumer is busy (a slot write on a slow board): the bytes that arrived meanwhile
  // must be counted, not dropped with the response when its socket closes, or the resume asks for them again (and
  // with a Content-Length that lies, the shorter resume looks like another version). The source pauses its body above
  // 128 KiB queued, except in the last MiB (http-source.ts): cuts come every 100 KB, under the queue.
  const slowly = async (stream: HttpStream): Promise<Buffer> => {
    const parts: Uint8Array[] = [];
    for await (const chunk of stream) {
      parts.push(chunk);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    return Buffer.concat(parts);
  };

  it('counts every byte received before an early close while the consumer is slow (a Content-Length that lies)', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, lengthExtra: 5000 }]);
    expect((await slowly(await openHttpStream(srv.url(), options({ retries: 2 })))).equals(body)).toBe(true);
    // the first response carried the whole body: the only resume asks from its end (a 416 there ends the resource)
    expect(srv.requests.map((r) => r.headers.range)).toEqual([undefined, `bytes=${body.length}-`]);
  });

  it('counts every byte received before each cut while the consumer is slow: each resume starts where the cut was', async () => {
    const big = randomBytes(3 << 20);
    const srv = await serve({ body: big });
    srv.setFaults([{ on: 'every', cutAfter: 100_000 }]);
    expect((await slowly(await openHttpStream(srv.url(), options({ retries: 1 })))).equals(big)).toBe(true);
    const cuts = Array.from({ length: Math.floor(big.length / 100_000) }, (_, i) => `bytes=${(i + 1) * 100_000}-`);
    expect(srv.requests.map((r) => r.headers.range)).toEqual([undefined, ...cuts]);
  });

  it('refuses redirects to link-local and cloud metadata addresses without connecting, and never echoes their status', async () => {
    const srv = await serve();
    for (const where of ['http://169.254.169.254/latest/meta-data/', 'http://[::ffff:169.254.169.254]/', 'http://[fe80::1]/x', 'http://[fd00:ec2::254]/', 'http://100.100.100.200/', 'http://2852039166/']) {
      srv.setFaults([{ on: 'every', redirect: where }]);
      const opts = options({ connectTimeoutMs: 300 });
      const error = await openHttpStream(srv.url(), opts).then(() => undefined, (e: unknown) => e);
      expect(error, where).toMatchObject({ code: 'invalid-uri', message: expect.stringMatching(/link-local or cloud metadata address/) });
      expect((error as Error).message).not.toMatch(/status|answered/);
      expect(opts.retried).toHaveLength(0);
    }
  });

  it('refuses a host name that resolves to a link-local address (checked at connect, so DNS cannot smuggle it in)', async () => {
    const srv = await serve();
    const lookup = ((_host: string, o: unknown, cb: (...a: unknown[]) => void) => {
      if (typeof o === 'object' && o !== null && (o as { all?: boolean }).all) cb(null, [{ address: '169.254.169.254', family: 4 }]);
      else cb(null, '169.254.169.254', 4);
    }) as unknown as NonNullable<HttpSourceOptions['lookup']>;
    srv.setFaults([{ on: 'every', redirect: 'http://metadata.example.test/computeMetadata/v1/' }]);
    const error = await openHttpStream(srv.url(), options({ lookup, connectTimeoutMs: 300 })).then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'invalid-uri', message: expect.stringMatching(/metadata\.example\.test resolves to 169\.254\.169\.254, a link-local or cloud metadata address/) });
  });

  it('gives up on a slowloris server that honours Range and sends a byte now and then: dribbles are not progress', async () => {
    const srv = await serve();
    // ~20 bytes/s on every connection, resumable: each attempt delivers a few bytes before the low-speed limit
    // replaces it; when any byte counted as progress, the retry budget was reset at every attempt, for ever
    srv.setFaults([{ on: 'every', throttle: 20 }]);
    const opts = options({ stallTimeoutMs: 300, minBytesPerSec: 1024, retries: 3 });
    const began = Date.now();
    const { bytes, error } = await collectUntilError(await openHttpStream(srv.url(), opts));
    expect(error).toMatchObject({ code: 'stalled', message: expect.stringMatching(/below the minimum of 1024 bytes\/s .*gave up after 4 attempts without progress/) });
    expect(bytes.length).toBeGreaterThan(0);
    expect(srv.requests).toHaveLength(4);
    expect(srv.requests[1]!.headers.range).toBe(`bytes=${opts.retried[0]!.offset}-`);
    expect(Date.now() - began).toBeLessThan(10_000);
  });

  it('gives up on a server that sends the headers and one byte, then nothing, on every connection', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 'every', stallAfter: 1 }]);
    const { bytes, error } = await collectUntilError(await openHttpStream(srv.url(), options({ stallTimeoutMs: 200, retries: 2 })));
    expect(error).toMatchObject({ code: 'stalled', message: expect.stringContaining('gave up after 3 attempts without progress') });
    expect(bytes.length).toBe(3);
    expect(srv.requests).toHaveLength(3);
  });

  it('gives up on a server that answers every Range with a 1-byte 206', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, cutAfter: 100_000 }, { on: 'every', rangeCap: 1 }]);
    const { bytes, error } = await collectUntilError(await openHttpStream(srv.url(), options({ retries: 3 })));
    expect(error).toMatchObject({ code: 'connection-lost', message: expect.stringMatching(/ended a response after 1 bytes.*gave up after 4 attempts/) });
    // the cut is the first failure; three 1-byte answers later the budget of 3 retries is spent
    expect(bytes.length).toBe(100_003);
    expect(srv.requests).toHaveLength(4);
  });

  it('fails with too-slow once the whole download averages below minAverageBytesPerSec, even while every window has a byte', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 'every', throttle: 20 }]);
    // the low-speed window is off (one byte per 300 ms satisfies it): only the average can end this download
    const opts = options({ stallTimeoutMs: 300, minBytesPerSec: 0, minAverageBytesPerSec: 1000 });
    const began = Date.now();
    const { error } = await collectUntilError(await openHttpStream(srv.url(), opts));
    expect(error).toMatchObject({ code: 'too-slow', message: expect.stringMatching(/averaged [\d.]+ bytes\/s over \d+ s of waiting .* below the minimum of 1000 bytes\/s \(download\.minAverageBytesPerSec\)/) });
    expect(opts.retried).toHaveLength(0);
    expect(Date.now() - began).toBeLessThan(5000);
  });

  it('keeps a download that averages above minAverageBytesPerSec', async () => {
    const srv = await serve({ body: body.subarray(0, 60_000) });
    srv.setFaults([{ on: 1, throttle: 100_000 }]);
    const opts = options({ stallTimeoutMs: 200, minAverageBytesPerSec: 50_000 });
    expect((await collect(await openHttpStream(srv.url(), opts))).length).toBe(60_000);
  });

  it('fails with too-slow at the deadline: while reading, while waiting for headers, and instead of a backoff that would pass it', async () => {
    const srv = await serve();
    srv.setFaults([{ on: 1, throttle: 100_000 }]); // ~10 s for the body
    const began = Date.now();
    const { bytes, error } = await collectUntilError(await openHttpStream(srv.url(), options({ deadlineMs: 400 })));
    expect(error).toMatchObject({ code: 'too-slow', message: expect.stringMatching(/did not finish within its deadline of 0\.4 s \(download\.deadlineSec\): \d+ of 1048699 bytes/) });
    expect(bytes.length).toBeGreaterThan(0);
    expect(Date.now() - began).toBeLessThan(3000);
    srv.setFaults([{ on: 'every', noResponse: true }]);
    await expect(openHttpStream(srv.url(), options({ deadlineMs: 300 }))).rejects.toMatchObject({ code: 'too-slow' });
    srv.setFaults([{ on: 'every', status: 503 }]);
    const opts = options({ deadlineMs: 5000, initialDelayMs: 20_000, maxDelayMs: 20_000, sleep: undefined as never });
    await expect(openHttpStream(srv.url(), opts)).rejects.toMatchObject({ code: 'too-slow' });
    expect(opts.retried).toHaveLength(0);
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
