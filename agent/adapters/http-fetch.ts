// One GET for the package download (http-source.ts) with node-fetch, the project's HTTP client: `redirect: 'manual'`
// leaves the redirect policy to the caller, a per-request agent carries the address guard's DNS lookup and the extra
// CA, and the body is read through body-queue.ts. No error message shows a URL's credentials or query string.

import http, { type IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import fetch from 'node-fetch';
import { FotaError } from '../core/errors.js';
import { guardedLookup, type Lookup } from './address-guard.js';
import { BodyQueue } from './body-queue.js';
import { WideReadAgent, WideTlsAgent } from './wide-read-socket.js';
import { Retryable, shown } from './http-response.js';

export interface FetchOptions {
  headers: Record<string, string>;
  /** the DNS lookup under the guard (default node:dns) */
  lookup?: Lookup | undefined;
  /** trusted CA certificates for https (Node's roots plus the extra one), or undefined for Node's default */
  ca?: string[] | undefined;
  /** ms for TCP + TLS connect and the response headers */
  connectTimeoutMs: number;
  /** the body queue's high-water mark in bytes (body-queue.ts) */
  queueBytes: number;
  /** aborting it abandons the request or destroys the response's socket */
  signal: AbortSignal;
}

/** A response as the download reads it: status, node:http's header shape, the queued body, and a way to drop it. */
export interface Fetched {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: BodyQueue;
  /** destroys the body and its socket; `error` is what a waiting take() rejects with */
  destroy(error?: Error): void;
}

/**
 * GETs `url` and resolves once the response headers arrived (redirects are not followed). Rejects with the guard's
 * FotaError for a refused address, a Retryable 'connection-lost' when the headers do not come within connectTimeoutMs,
 * or the socket's error as { message: reason, code } (node-fetch's message names the URL, which may carry secrets).
 */
export async function fetchOnce(url: URL, o: FetchOptions): Promise<Fetched> {
  // node-fetch keeps only the code of a connect error: the guard's own refusal is kept here to be thrown as it is
  let refused: FotaError | undefined;
  const guarded = guardedLookup(shown(url), o.lookup);
  const lookup: Lookup = (host, options, callback) =>
    guarded(host, options, (e, ...rest) => {
      if (e instanceof FotaError) refused = e;
      callback(e, ...rest);
    });
  // one agent per request, without keep-alive: one download holds one connection at a time, closed after the body;
  // its socket hands on pieces of up to 512 KiB (wide-read-socket.ts: plain reads, or TLS records gathered)
  const agentOptions = { keepAlive: false, lookup: lookup as unknown as http.AgentOptions['lookup'] };
  const agent = url.protocol === 'https:' ? new WideTlsAgent({ ...agentOptions, ...(o.ca ? { ca: o.ca } : {}) }) : new WideReadAgent(agentOptions);
  const ctl = new AbortController();
  const abort = () => ctl.abort();
  if (o.signal.aborted) ctl.abort();
  o.signal.addEventListener('abort', abort, { once: true });
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    ctl.abort();
  }, o.connectTimeoutMs);
  try {
    // user:password in the URL is Basic authentication, as node:http does (the Fetch standard refuses such URLs)
    const headers = { ...o.headers };
    const plain = new URL(url.href);
    if (plain.username || plain.password) {
      headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(plain.username)}:${decodeURIComponent(plain.password)}`).toString('base64')}`;
      plain.username = '';
      plain.password = '';
    }
    // compress: false — the body is the package's bytes as sent (a Content-Encoding is refused by acceptResponse)
    const r = await fetch(plain.href, { method: 'GET', headers, agent, redirect: 'manual', compress: false, signal: ctl.signal });
    const stream = r.body as unknown as Readable;
    // the queue pulls from the socket (wide-read-socket.ts), so no piece waits between them
    const socket = agent.socket;
    socket?.dropForeignReaders();
    const body = new BodyQueue(stream, o.queueBytes, socket);
    return {
      statusCode: r.status,
      headers: nodeHeaders(r.headers.raw()),
      body,
      destroy: (e?: Error) => {
        o.signal.removeEventListener('abort', abort);
        // recorded first: aborting node-fetch's request emits its own AbortError on the body at once
        if (e) body.fail(e);
        stream.destroy(e);
        ctl.abort();
      },
    };
  } catch (e) {
    o.signal.removeEventListener('abort', abort);
    if (late) throw new Retryable('connection-lost', `${shown(url)} did not answer within ${o.connectTimeoutMs} ms`);
    throw refused ?? systemError(e);
  } finally {
    clearTimeout(timer);
  }
}

/** node-fetch's raw headers (lower-case names, every value) in node:http's shape: repeated values joined by ", ". */
function nodeHeaders(raw: Record<string, string[]>): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, values] of Object.entries(raw)) out[name] = name === 'set-cookie' ? values : values.join(', ');
  return out;
}

/**
 * node-fetch wraps a socket's error as "request to URL failed, reason: …" with the system code: keep the code and
 * the reason only (a URL's query string or credentials never reach a message); other errors pass as they are.
 */
function systemError(e: unknown): unknown {
  const f = e as { name?: string; type?: string; code?: string; message?: string };
  if (f?.name !== 'FetchError' || f.type !== 'system') return e;
  const reason = /failed, reason: ([\s\S]*)$/.exec(f.message ?? '')?.[1] ?? f.code ?? 'request failed';
  return Object.assign(new Error(reason), { code: f.code });
}
