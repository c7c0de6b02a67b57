// A real HTTP(S) package server for tests, on 127.0.0.1 and a free port, that misbehaves on request. It serves one
// body (a Buffer, or a file streamed from disk) at every path, honours a single Range and If-Range, sends an ETag.

import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

/** What the server serves: bytes in memory, or a file streamed from disk (for large bodies). */
export type FaultBody = Buffer | { file: string };

/**
 * One misbehaviour. `on` picks the request: its 1-based number counted over every request this server received
 * (redirects included), or 'every'. When several faults match a request they are merged, later ones winning.
 * Byte counts (`cutAfter`, `stallAfter`) are body bytes of that response; `corruptAt` is an offset in the resource.
 */
export interface Fault {
  on: number | 'every';
  /** answer this status (404, 500, 503…) with a short text body */
  status?: number;
  /** answer `redirectStatus` (default 302) with this Location (absolute URL or path) */
  redirect?: string;
  redirectStatus?: 301 | 302 | 303 | 307 | 308;
  /** close the connection after this many body bytes (the bytes are flushed first, then the socket goes) */
  cutAfter?: number;
  /** never answer: not even headers (until the client leaves or close()) */
  noResponse?: boolean;
  /** send the headers and this many body bytes, then nothing for `stallMs` ms (default: until the client leaves or close()) */
  stallAfter?: number;
  stallMs?: number;
  /** invert the byte at this offset of the resource */
  corruptAt?: number;
  /** ignore Range: always 200 with the whole body */
  ignoreRange?: boolean;
  /** honour Range even when If-Range does not match (a server bug that splices versions if the client trusts it) */
  ignoreIfRange?: boolean;
  /** answer a Range with at most this many bytes (a shorter 206), as CDNs that cap ranges do */
  rangeCap?: number;
  /** send at most this many body bytes per second */
  throttle?: number;
  /** send `Content-Encoding: gzip` (the body itself is not compressed) */
  gzipHeader?: boolean;
  /** announce (and compare If-Range against) this ETag instead of the current one */
  etag?: string;
  /**
   * no Content-Length: 'chunked' transfer coding, or 'close' (HTTP/1.0 style: the body ends when the server closes
   * the connection, so a cut looks exactly like the end)
   */
  framing?: 'chunked' | 'close';
  /** announce this many bytes more in Content-Length (and Content-Range) than the body has, then close after the body */
  lengthExtra?: number;
}

/** A request as the server saw it. */
export interface RecordedRequest {
  /** 1-based, in arrival order */
  n: number;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface FaultServer {
  /** e.g. http://127.0.0.1:41234 */
  readonly origin: string;
  /** origin + path (default '/pkg.tar') */
  url(path?: string): string;
  /** every request so far, in order */
  readonly requests: readonly RecordedRequest[];
  /** the ETag of the current body */
  readonly etag: string;
  /** connections open right now */
  readonly openConnections: number;
  /** Replaces the fault list (requests keep their numbering). */
  setFaults(faults: Fault[]): void;
  /** Serves a new version from the next request on: new ETag and Last-Modified. */
  setBody(body: FaultBody): void;
  /** Resolves once no connection is open. */
  idle(): Promise<void>;
  /** Destroys open connections and stops listening; later connects are refused. Idempotent. */
  close(): Promise<void>;
}

const CHUNK = 64 * 1024;

/**
 * Starts the server. With `tls` (see test/helpers/tls.ts) it speaks HTTPS. `port`: a given one (a server started again
 * after an outage: the same body gets the same ETag), else any free one.
 */
export async function startFaultServer(options: { body: FaultBody; tls?: { key: string; cert: string }; port?: number; /** default 127.0.0.1 (the hil suite's real-board mode binds the address a board reaches) */ host?: string }): Promise<FaultServer> {
  let current = version(options.body, 1);
  let faults: Fault[] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const idleWaiters: (() => void)[] = [];

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const n = requests.length + 1;
    requests.push({ n, method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
    const fault: Omit<Fault, 'on'> = Object.assign({}, ...faults.filter((f) => f.on === 'every' || f.on === n));
    res.on('error', () => {}); // the client going away mid-body is what these tests do
    void respond(req, res, fault, current).catch(() => res.destroy());
  };
  const server = options.tls ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, handler) : http.createServer(handler);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0) for (const wake of idleWaiters.splice(0)) wake();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const origin = `${options.tls ? 'https' : 'http'}://${options.host ?? '127.0.0.1'}:${(server.address() as AddressInfo).port}`;
  let closing: Promise<void> | undefined;

  return {
    origin,
    url: (path = '/pkg.tar') => origin + path,
    requests,
    get etag() {
      return current.etag;
    },
    get openConnections() {
      return sockets.size;
    },
    setFaults(list) {
      faults = [...list];
    },
    setBody(body) {
      current = version(body, current.n + 1);
    },
    idle: () => (sockets.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

interface Version {
  n: number;
  body: FaultBody;
  size: number;
  etag: string;
  lastModified: string;
}

function version(body: FaultBody, n: number): Version {
  const size = Buffer.isBuffer(body) ? body.length : statSync(body.file).size;
  const lastModified = new Date(Date.UTC(2024, 0, 1) + n * 60_000).toUTCString();
  return { n, body, size, etag: `"v${n}-${size}"`, lastModified };
}

async function respond(req: http.IncomingMessage, res: http.ServerResponse, fault: Omit<Fault, 'on'>, v: Version): Promise<void> {
  if (fault.noResponse) return; // the request stays open until one side closes the connection
  if (fault.status !== undefined) {
    res.writeHead(fault.status, { 'content-type': 'text/plain' }).end(`fault: status ${fault.status}\n`);
    return;
  }
  if (fault.redirect !== undefined) {
    res.writeHead(fault.redirectStatus ?? 302, { location: fault.redirect }).end();
    return;
  }
  const etag = fault.etag ?? v.etag;
  let start = 0;
  let end = v.size - 1;
  const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
  const ifRange = req.headers['if-range'];
  const fresh = ifRange === undefined || ifRange === etag || ifRange === v.lastModified || fault.ignoreIfRange === true;
  const partial = range !== null && !fault.ignoreRange && fresh && (range[1] !== '' || range[2] !== '');
  if (partial) {
    if (range[1] === '') {
      start = Math.max(0, v.size - Number(range[2])); // suffix range: the last N bytes
    } else {
      start = Number(range[1]);
      if (range[2] !== '') end = Math.min(end, Number(range[2]));
    }
    if (fault.rangeCap !== undefined) end = Math.min(end, start + fault.rangeCap - 1);
    if (start >= v.size || start > end) {
      res.writeHead(416, { 'content-range': `bytes */${v.size}` }).end();
      return;
    }
  }
  const headers: http.OutgoingHttpHeaders = {
    'content-type': 'application/octet-stream',
    'accept-ranges': 'bytes',
    etag,
    'last-modified': v.lastModified,
    'content-length': String(end - start + 1 + (fault.lengthExtra ?? 0)),
  };
  if (partial) headers['content-range'] = `bytes ${start}-${end + (fault.lengthExtra ?? 0)}/${v.size + (fault.lengthExtra ?? 0)}`;
  if (fault.gzipHeader) headers['content-encoding'] = 'gzip';
  if (fault.framing !== undefined) delete headers['content-length'];
  if (fault.framing === 'close') {
    // no Content-Length and no chunked coding: Node then marks the end of the body by closing the connection
    res.useChunkedEncodingByDefault = false;
    res.shouldKeepAlive = false;
  }
  res.writeHead(partial ? 206 : 200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await sendBody(res, chunks(v.body, start, end), start, fault);
}

async function* chunks(body: FaultBody, start: number, end: number): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(body)) {
    for (let at = start; at <= end; at += CHUNK) yield body.subarray(at, Math.min(end + 1, at + CHUNK));
  } else if (end >= start) {
    yield* createReadStream(body.file, { start, end, highWaterMark: CHUNK }) as AsyncIterable<Buffer>;
  }
}

/** FIN after what was written; the socket goes once the client closed its side too (or after 5 s). */
function endGently(socket: Socket | null): void {
  if (!socket) return;
  socket.end();
  const timer = setTimeout(() => socket.destroy(), 5000);
  socket.once('close', () => clearTimeout(timer));
}

/** Writes the body with backpressure, applying cut / stall / corrupt / throttle; stops when the client leaves. */
async function sendBody(res: http.ServerResponse, source: AsyncIterable<Buffer>, offset: number, fault: Omit<Fault, 'on'>): Promise<void> {
  const closed = new Promise<void>((resolve) => res.once('close', resolve));
  let gone = false;
  void closed.then(() => (gone = true));
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      void closed.then(() => (clearTimeout(timer), resolve()));
    });
  const began = Date.now();
  let sent = 0;
  let stalled = false;
  const step = fault.throttle ? Math.max(1, Math.floor(fault.throttle / 20)) : Infinity;

  const boundary = async (): Promise<'cut' | undefined> => {
    if (fault.cutAfter !== undefined && sent >= fault.cutAfter) {
      const socket = res.socket;
      res.flushHeaders();
      // end() flushes what was written, then FIN: the client gets exactly `cutAfter` bytes, then a premature close.
      // Not destroy() at once: a slow client still had bytes in flight, and closing the socket under them made the
      // kernel reset the connection, so the client lost up to a socket buffer of them (the cut was not exact).
      endGently(socket);
      return 'cut';
    }
    if (fault.stallAfter !== undefined && !stalled && sent >= fault.stallAfter) {
      stalled = true;
      res.flushHeaders();
      await (fault.stallMs === undefined ? closed : pause(fault.stallMs));
    }
    if (fault.throttle) await pause((sent / fault.throttle) * 1000 - (Date.now() - began));
    return undefined;
  };

  if ((await boundary()) === 'cut' || gone) return;
  for await (let chunk of source) {
    if (fault.corruptAt !== undefined && fault.corruptAt >= offset && fault.corruptAt < offset + chunk.length) {
      chunk = Buffer.from(chunk);
      chunk[fault.corruptAt - offset] = ~chunk[fault.corruptAt - offset]! & 0xff;
    }
    offset += chunk.length;
    while (chunk.length > 0) {
      let take = Math.min(chunk.length, step);
      if (fault.cutAfter !== undefined) take = Math.min(take, fault.cutAfter - sent);
      if (fault.stallAfter !== undefined && !stalled) take = Math.min(take, fault.stallAfter - sent);
      if (!res.write(chunk.subarray(0, take))) await Promise.race([new Promise((r) => res.once('drain', r)), closed]);
      sent += take;
      chunk = chunk.subarray(take);
      if ((await boundary()) === 'cut' || gone) return;
    }
  }
  if (fault.lengthExtra) {
    // the body is shorter than announced: flush it and close, as a server whose Content-Length lies does
    endGently(res.socket);
    return;
  }
  res.end();
}
