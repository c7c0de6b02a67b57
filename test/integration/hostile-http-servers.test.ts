// The hostile HTTP servers set: the agent's whole download path (PackageDownloader: HTTP source + verifying reader +
// a real file-backed slot) against real servers that lie, stall, dribble, redirect where they must not, break the
// protocol or cut the connection. Each ends as the device would report it (an installed image, or the Update Result
// and code of the refusal, with a reason) within a bounded time, and no connection is left open. The HTTP client may
// be replaced (a rework is planned): this file says what any client must still do. The count is docs/reliability.md's.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PackageDownloader } from '../../agent/adapters/package-downloader.js';
import type { HttpSourceOptions } from '../../agent/adapters/http-source.js';
import { FotaError, type ErrorCode } from '../../agent/core/errors.js';
import type { PlatformAdapter } from '../../agent/core/ports.js';
import { updateResultFor } from '../../agent/core/update-result.js';
import { FileSlot } from '../helpers/file-slot.js';
import { startFaultServer, type Fault, type FaultServer } from '../helpers/fault-server.js';
import { buildPackage } from '../helpers/package-builder.js';
import { startRawServer } from '../helpers/raw-http-server.js';
import { documentedCount } from '../helpers/reliability-doc.js';
import { makeTestCerts, type TestCerts } from '../helpers/tls.js';

const KEY = generateKeyPairSync('ed25519');
const IMAGE = randomBytes(300_000);
const PKG = buildPackage({ image: IMAGE, key: KEY.privateKey }).pkg;
const SLOT_BYTES = 1024 * 1024;
/** short limits so that every hostile case ends in a second or two; the rules are the ones the agent runs with */
const HTTP: Omit<HttpSourceOptions, 'signal' | 'onRetry'> = {
  allowedSchemes: ['http'],
  connectTimeoutMs: 500,
  stallTimeoutMs: 300,
  minBytesPerSec: 1024,
  minAverageBytesPerSec: 256,
  deadlineMs: 15_000,
  retries: 2,
  initialDelayMs: 10,
  maxDelayMs: 20,
};
const MAX_MS = 12_000;
/**
 * A case a healthy client must survive is not about stalls: it gets stall and connect timeouts a loaded machine
 * cannot trip by accident (with 300 ms, two busy cores made a healthy loopback transfer look stalled now and then)
 */
const PATIENT: Partial<HttpSourceOptions> = { stallTimeoutMs: 10_000, connectTimeoutMs: 10_000 };

interface Running {
  uri: string;
  close(): Promise<void>;
  /** resolves once the server has no open connection (fault servers) */
  idle?(): Promise<void>;
  /** called when the downloader retries */
  retrying?(): void;
}

interface ServerCase {
  name: string;
  start(): Promise<Running>;
  /** 'installed', or the codes the refusal may carry (all of one Update Result) and what its reason says */
  expect: 'installed' | { codes: ErrorCode[]; why?: RegExp };
  http?: Partial<HttpSourceOptions>;
}

let certs: TestCerts;
const fault = (faults: Fault[], body: Buffer = PKG, tls = false) => async (): Promise<Running> => {
  const srv: FaultServer = await startFaultServer(tls ? { body, tls: certs } : { body });
  srv.setFaults(faults);
  return { uri: srv.url(), close: () => srv.close(), idle: () => srv.idle() };
};
const raw = (script: (socket: Socket, head: string, n: number) => void) => async (): Promise<Running> => {
  const srv = await startRawServer(script);
  return { uri: srv.url(), close: () => srv.close() };
};
const redirectTo = (location: string) => fault([{ on: 'every', redirect: location }]);
const refused = (codes: ErrorCode[], why?: RegExp) => ({ codes, ...(why ? { why } : {}) });
const LOST: ErrorCode[] = ['connection-lost'];

const CASES: ServerCase[] = [
  // status codes
  { name: '404 Not Found', start: fault([{ on: 'every', status: 404 }]), expect: refused(['not-found'], /answered 404/) },
  { name: '410 Gone', start: fault([{ on: 'every', status: 410 }]), expect: refused(['not-found']) },
  { name: '401 Unauthorized', start: fault([{ on: 'every', status: 401 }]), expect: refused(['invalid-uri'], /status 401/) },
  { name: '403 Forbidden', start: fault([{ on: 'every', status: 403 }]), expect: refused(['invalid-uri']) },
  { name: '304 Not Modified to a plain GET', start: fault([{ on: 'every', status: 304 }]), expect: refused(['invalid-uri']) },
  { name: '500 on every attempt', start: fault([{ on: 'every', status: 500 }]), expect: refused(['server-error'], /gave up after 3 attempts/) },
  { name: '503 once, then the package', start: fault([{ on: 1, status: 503 }]), expect: 'installed' },
  { name: '429 Too Many Requests on every attempt', start: fault([{ on: 'every', status: 429 }]), expect: refused(['server-error']) },
  { name: '408 on every attempt', start: fault([{ on: 'every', status: 408 }]), expect: refused(['server-error']) },
  // redirects
  { name: 'a redirect loop', start: redirectTo('/pkg.tar'), expect: refused(['invalid-uri'], /redirect loop/) },
  { name: 'a chain of 7 redirects', start: fault([1, 2, 3, 4, 5, 6, 7].map((n) => ({ on: n, redirect: `/r${n}` }))), expect: refused(['invalid-uri'], /too many redirects/) },
  { name: 'a redirect to the cloud metadata address', start: redirectTo('http://169.254.169.254/latest/meta-data/iam/'), expect: refused(['invalid-uri'], /link-local or cloud metadata/) },
  { name: 'a redirect to an IPv4-mapped metadata address', start: redirectTo('http://[::ffff:169.254.169.254]/'), expect: refused(['invalid-uri'], /link-local or cloud metadata/) },
  { name: 'a redirect to an IPv6 link-local address', start: redirectTo('http://[fe80::1]/pkg.tar'), expect: refused(['invalid-uri'], /link-local or cloud metadata/) },
  { name: 'a redirect to the AWS IPv6 metadata address', start: redirectTo('http://[fd00:ec2::254]/'), expect: refused(['invalid-uri'], /link-local or cloud metadata/) },
  { name: 'a redirect to a decimal-encoded metadata address', start: redirectTo('http://2852039166/'), expect: refused(['invalid-uri'], /link-local or cloud metadata/) },
  { name: 'a redirect to https when only http is allowed', start: redirectTo('https://127.0.0.1:1/pkg.tar'), expect: refused(['unsupported-scheme']) },
  { name: 'a redirect to file:///etc/shadow', start: redirectTo('file:///etc/shadow'), expect: refused(['unsupported-scheme']) },
  { name: 'a redirect to an unparsable location', start: redirectTo('http://[::1'), expect: refused(['invalid-uri'], /unparsable location/) },
  { name: 'a redirect without a Location', start: raw((s) => s.end('HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n')), expect: refused(['invalid-uri'], /without a Location/) },
  // stalls, dribbles, deadlines
  { name: 'accepts, never answers', start: fault([{ on: 'every', noResponse: true }]), expect: refused(LOST, /did not answer within 500 ms/) },
  { name: 'headers, then nothing', start: fault([{ on: 'every', stallAfter: 0 }]), expect: refused(['stalled', 'too-slow']) },
  { name: 'headers and one byte, then nothing, on every connection', start: fault([{ on: 'every', stallAfter: 1 }]), expect: refused(['stalled', 'too-slow']) },
  { name: 'a slowloris: Range honoured, ~20 bytes/s', start: fault([{ on: 'every', throttle: 20 }]), expect: refused(['too-slow', 'stalled']) },
  { name: 'a 1-byte 206 to every Range', start: fault([{ on: 1, cutAfter: 100_000 }, { on: 'every', rangeCap: 1 }]), expect: refused(LOST, /ended a response after 1 bytes/) },
  { name: 'a cut after 1,000 bytes on every connection', start: fault([{ on: 'every', cutAfter: 1000 }]), expect: refused(LOST, /without progress/) },
  { name: 'slower than the deadline', start: fault([{ on: 'every', throttle: 100_000 }]), http: { deadlineMs: 1000 }, expect: refused(['too-slow'], /deadline of 1 s/) },
  { name: 'headers dribbled a byte at a time', start: raw((s) => { const text = 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'; let i = 0; const t = setInterval(() => (i < text.length && !s.destroyed ? s.write(text[i++] as string) : clearInterval(t)), 100); s.on('close', () => clearInterval(t)); }), expect: refused(LOST, /did not answer within/) },
  { name: 'an endless stream of 102 Processing', start: raw((s) => { const t = setInterval(() => !s.destroyed && s.write('HTTP/1.1 102 Processing\r\n\r\n'), 50); s.on('close', () => clearInterval(t)); }), expect: refused(LOST) },
  // cuts a healthy client survives
  // 200 KB, well above the 64 KiB an attempt must bring to count as progress: every byte received before a cut is
  // counted (body-queue.ts), except what the body holds while paused (its queue full), lost at a cut and fetched again
  { name: 'a cut after 200 KB on every connection (resumed with Range)', start: fault([{ on: 'every', cutAfter: 200_000 }]), expect: 'installed' },
  { name: 'a chunked body cut once', start: fault([{ on: 'every', framing: 'chunked' }, { on: 1, cutAfter: 100_000 }]), expect: 'installed' },
  { name: 'a close-delimited body cut once', start: fault([{ on: 'every', framing: 'close' }, { on: 1, cutAfter: 100_000 }]), expect: 'installed' },
  { name: 'a close-delimited body cut once, no Range support', start: fault([{ on: 'every', framing: 'close', ignoreRange: true }, { on: 1, cutAfter: 100_000 }]), expect: 'installed' },
  { name: 'a close-delimited body cut once, no Range, no strong ETag', start: fault([{ on: 'every', framing: 'close', ignoreRange: true, etag: 'W/"x"' }, { on: 1, cutAfter: 100_000 }]), expect: refused(['integrity-mismatch'], /truncated/) },
  { name: 'a Content-Length larger than the body', start: fault([{ on: 'every', lengthExtra: 5000 }]), expect: 'installed' },
  { name: 'Range ignored on a resume, same strong ETag', start: fault([{ on: 1, cutAfter: 100_000 }, { on: 'every', ignoreRange: true }]), expect: 'installed' },
  // lies about the bytes
  { name: 'Content-Encoding: gzip', start: fault([{ on: 'every', gzipHeader: true }]), expect: refused(['invalid-uri'], /Content-Encoding "gzip"/) },
  { name: 'the package changes between two attempts', start: async () => { const srv = await startFaultServer({ body: PKG }); srv.setFaults([{ on: 1, cutAfter: 100_000 }]); return { uri: srv.url(), close: () => srv.close(), retrying: () => srv.setBody(Buffer.from(PKG).fill(7, 0, 1000)) }; }, expect: refused(LOST, /changed on the server/) },
  { name: 'a changed package spliced by a server that ignores If-Range', start: async () => { const srv = await startFaultServer({ body: PKG }); srv.setFaults([{ on: 1, cutAfter: 100_000 }, { on: 'every', ignoreIfRange: true }]); return { uri: srv.url(), close: () => srv.close(), retrying: () => srv.setBody(Buffer.from(PKG).fill(7)) }; }, expect: refused(LOST, /changed on the server/) },
  { name: 'Range ignored on a resume, weak ETag', start: fault([{ on: 1, cutAfter: 100_000, etag: 'W/"w"' }, { on: 'every', ignoreRange: true, etag: 'W/"w"' }]), expect: refused(LOST, /ignored Range/) },
  { name: 'a flipped byte in the payload', start: fault([{ on: 'every', corruptAt: 5000 }]), expect: refused(['integrity-mismatch'], /SHA-256 mismatch/) },
  { name: 'an HTML error page with 200', start: fault([], Buffer.from('<html><body>Service temporarily unavailable</body></html>\n'.repeat(40))), expect: refused(['unsupported-package']) },
  { name: 'the package followed by 2 MiB of zeros', start: fault([], Buffer.concat([PKG, Buffer.alloc(2 * 1024 * 1024)])), expect: refused(['unsupported-package'], /follow the payload/) },
  { name: 'a 206 from the wrong byte to the open', start: raw((s) => s.end('HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 100-199/1000\r\nContent-Length: 100\r\n\r\n' + 'x'.repeat(100))), expect: refused(LOST, /cannot resume safely/) },
  { name: 'exactly 10 bytes, as its Content-Length says', start: raw((s) => s.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'), PKG.subarray(0, 10)]))), expect: refused(['unsupported-package'], /truncated after 10 bytes/) },
  // broken HTTP
  { name: 'a garbage status line', start: raw((s) => s.end('HELLO THERE\r\n\r\n')), expect: refused(LOST) },
  { name: 'raw bytes without any HTTP head (HTTP/0.9)', start: raw((s) => s.end(PKG.subarray(0, 4096))), expect: refused(LOST) },
  { name: '100 KB of response headers', start: raw((s) => s.end(`HTTP/1.1 200 OK\r\n${'X-Junk: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(1500)}\r\n`)), expect: refused(LOST) },
  { name: 'Content-Length and Transfer-Encoding both', start: raw((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n')), expect: refused(LOST) },
  { name: 'two different Content-Lengths', start: raw((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello')), expect: refused(LOST) },
  { name: 'a negative Content-Length', start: raw((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n')), expect: refused(LOST) },
  { name: 'an invalid chunk size', start: raw((s) => s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n')), expect: refused(LOST) },
  { name: 'a reset right after the request', start: raw((s) => s.resetAndDestroy()), expect: refused(LOST, /ECONNRESET/) },
  { name: 'a close right after the request', start: raw((s) => s.end()), expect: refused(LOST) },
  // TLS
  { name: 'https with a certificate the device does not trust', start: fault([], PKG, true), http: { allowedSchemes: ['https'] }, expect: refused(['invalid-uri'], /TLS verification/) },
  { name: 'https with the configured CA', start: fault([], PKG, true), http: { allowedSchemes: ['https'] }, expect: 'installed' },
  // the TLS socket gathers records into pieces (wide-read-socket.ts): its cuts, stalls and dribbles as over http
  { name: 'https: a cut after 100,000 bytes, then the rest (a Range request)', start: fault([{ on: 1, cutAfter: 100_000 }], PKG, true), http: { allowedSchemes: ['https'] }, expect: 'installed' },
  { name: 'https: headers and one byte, then nothing, on every connection', start: fault([{ on: 'every', stallAfter: 1 }], PKG, true), http: { allowedSchemes: ['https'] }, expect: refused(['stalled', 'too-slow']) },
  { name: 'https: a slowloris, ~20 bytes/s', start: fault([{ on: 'every', throttle: 20 }], PKG, true), http: { allowedSchemes: ['https'] }, expect: refused(['too-slow', 'stalled']) },
];

let dir: string;
beforeAll(async () => {
  certs = await makeTestCerts();
  dir = await mkdtemp(join(tmpdir(), 'fota-hostile-http-'));
  await FileSlot.create(join(dir, 'slot.img'), SLOT_BYTES);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The inactive slot a downloader writes: a real file (the downloader uses capacity, open and read only). */
function slotPlatform(slot: FileSlot): PlatformAdapter {
  const unused = (): never => {
    throw new Error('not used by the downloader');
  };
  return {
    name: 'file-slot',
    bootStatus: unused,
    inactiveSlotCapacity: () => slot.capacity(),
    openInactiveSlot: (o) => slot.open(o),
    readInactiveSlot: (n) => slot.read(n),
    activateInactiveSlot: unused,
    commitBootedSlot: unused,
    revertTrial: unused,
    reboot: unused,
    factoryImage: async () => undefined,
  };
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, transition: () => undefined };

describe('the hostile HTTP servers set', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const slot = new FileSlot(join(dir, 'slot.img'), SLOT_BYTES);
    const srv = await c.start();
    const https = c.name !== 'https with a certificate the device does not trust' && c.http?.allowedSchemes?.includes('https') ? { ca: certs.ca } : {};
    const http = { ...HTTP, ...(c.expect === 'installed' ? PATIENT : {}), ...c.http, ...https };
    const downloader = new PackageDownloader({ http, platform: slotPlatform(slot), deviceType: 'fota-sim', trustedKeys: [KEY.publicKey], allowUnsigned: false, checkpointBytes: SLOT_BYTES, logger: quiet });
    const uri = c.http?.allowedSchemes?.includes('https') ? srv.uri.replace('http:', 'https:') : srv.uri;
    const began = Date.now();
    try {
      const outcome = await downloader.download({ uri }, { signal: new AbortController().signal, progress: () => undefined, checkpoint: () => undefined, retrying: () => srv.retrying?.() }).then(
        (info) => ({ info }),
        (error: unknown) => ({ error }),
      );
      expect(Date.now() - began).toBeLessThan(MAX_MS);
      if (c.expect === 'installed') {
        expect(outcome).toMatchObject({ info: { payloadSize: IMAGE.length } });
        expect((await slot.head(IMAGE.length)).equals(IMAGE)).toBe(true);
      } else {
        const error = (outcome as { error?: unknown }).error;
        expect(error).toBeInstanceOf(FotaError);
        const { code, message } = error as FotaError;
        expect(c.expect.codes, message).toContain(code);
        // one Update Result per case, whichever of its codes ended it; and a reason a person can act on
        expect(new Set(c.expect.codes.map(updateResultFor)).size).toBe(1);
        if (c.expect.why) expect(message).toMatch(c.expect.why);
        expect(message.length).toBeGreaterThan(20);
        expect(slot.finished).toBe(0);
      }
    } finally {
      // nothing left open: the downloader closed every connection it made
      await srv.idle?.();
      await srv.close();
    }
  });

  it('docs/reliability.md states how many hostile servers the tests run', () => {
    expect(CASES.length).toBeGreaterThan(35); // the issue tried 35
    expect(documentedCount('Hostile HTTP servers')).toBe(CASES.length);
  });
});
