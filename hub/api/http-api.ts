// The hub's JSON HTTP API on node:http: authentication, browser guards, JSON answers and error mapping around
// the routes in api-routes.ts. Loopback-only unless a bearer token is set; never crashes on bad input.

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JobServiceApi } from '../jobs/job-service-api.js';
import { ApiError, errorBody, toApiError } from './api-errors.js';
import { dispatch, type ApiAnswer } from './api-routes.js';
import type { BrowserFront } from './browser-front.js';
import { hostIsLoopback, isLoopback } from './loopback.js';
import { readJsonBody } from './request-body.js';

export { isLoopback } from './loopback.js';

export const DEFAULT_API_HOST = '127.0.0.1';
export const DEFAULT_API_PORT = 8640;

export interface HttpApiOptions {
  /** address to listen on (default 127.0.0.1); anything but a loopback address requires `token` */
  host?: string;
  /** TCP port; 0 picks a free one (see `url`) */
  port: number;
  /** bearer token every request but GET /v1/health must carry */
  token?: string;
  /** where request failures (401s, 5xx with their stack) are written, one line each */
  log?: (line: string) => void;
  /** reported by GET /v1/health (default: the build's version) */
  version?: string;
  /** the web dashboard: serves / and /ui/, lets its browser sessions use the API (CSRF-checked), GET /v1/events and /v1/inventory */
  dashboard?: BrowserFront;
}
export interface HttpApi {
  /** "http://127.0.0.1:8640" (the real port when started with port 0) */
  url: string;
  /** stops listening and drops open (keep-alive) connections; idempotent */
  close(): Promise<void>;
}

/** The version of this build (esbuild defines it in the bundles), "dev" when the sources run directly. */
export function buildVersion(): string {
  // defined by esbuild in the bundles; absent when the sources run directly (tests)
  return typeof __FOTA_VERSION__ === 'string' ? __FOTA_VERSION__ : 'dev';
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Compares the Authorization header with the token in constant time (hashes first, so lengths leak nothing). */
function authorized(header: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return timingSafeEqual(digest(m?.[1] ?? ''), expected) && m !== null;
}

function send(res: ServerResponse, answer: ApiAnswer): void {
  const text = `${JSON.stringify(answer.body)}\n`;
  res.writeHead(answer.status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...answer.headers,
  });
  res.end(text);
}

/**
 * Starts the API for `service`. Resolves once it listens. Throws an Error (before listening) when `host` is not
 * a loopback address and no token is set, or the token is empty or contains whitespace; rejects with the
 * listen error (EADDRINUSE, EACCES) otherwise.
 */
export async function startHttpApi(service: JobServiceApi, opts: HttpApiOptions): Promise<HttpApi> {
  const host = opts.host ?? DEFAULT_API_HOST;
  const { token } = opts;
  if (token !== undefined && !/^[\x21-\x7e]{1,4096}$/.test(token)) {
    throw new Error('the hub API token must be 1-4096 printable ASCII characters without spaces');
  }
  if (token === undefined && !isLoopback(host)) {
    throw new Error(`refusing to serve the hub API on ${host} without a token: anyone who can reach it could update and reset devices. Set a token (FOTA_HUB_TOKEN) or listen on 127.0.0.1`);
  }
  const expected = token === undefined ? undefined : digest(token);
  const env = { service, version: opts.version ?? buildVersion(), ...(opts.dashboard ? { inventory: opts.dashboard.inventory.bind(opts.dashboard) } : {}) };
  const log = (line: string): void => {
    try {
      opts.log?.(line);
    } catch {
      // a failing logger must not turn an answered request into an unhandled rejection (a crash)
    }
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://hub.invalid');
    } catch {
      throw new ApiError(400, 'invalid-request', 'the request target is not a valid URL path');
    }
    const front = opts.dashboard;
    if (front?.owns(url.pathname)) return front.serve(req, res, url);
    // a dashboard's session (cookie + CSRF token, checked by the dashboard) stands for the token; a bearer header wins
    const viaSession = front !== undefined && req.headers.authorization === undefined && front.session(req);
    if (expected === undefined) {
      // Without a token the loopback address is the only guard: keep browsers out (but the dashboard's own pages,
      // which carry its CSRF token), because any web page can make a browser post to 127.0.0.1 (CSRF) or rebind a
      // DNS name to it.
      const site = req.headers['sec-fetch-site'];
      if (!viaSession && (req.headers.origin !== undefined || (site !== undefined && site !== 'none'))) throw new ApiError(403, 'forbidden', 'browser requests are refused by a hub without a token');
      if (!hostIsLoopback(req.headers.host)) throw new ApiError(403, 'forbidden', `Host ${JSON.stringify(req.headers.host)} is not a loopback name; use http://127.0.0.1:PORT`);
    } else if (!viaSession && url.pathname !== '/v1/health' && !authorized(req.headers.authorization, expected)) {
      log(`hub api: 401 ${method} ${url.pathname} from ${req.socket.remoteAddress ?? '?'}`);
      throw new ApiError(401, 'unauthorized', 'missing or wrong bearer token: send Authorization: Bearer <token> (FOTA_HUB_TOKEN)', { 'WWW-Authenticate': 'Bearer realm="fota-hub"' });
    }
    if (front && url.pathname === '/v1/events' && (method === 'GET' || method === 'HEAD')) {
      req.resume();
      return front.events(req, res, url);
    }
    let bodyRead = false;
    const answer = await dispatch(
      {
        method,
        path: url.pathname,
        query: url.searchParams,
        readBody: () => ((bodyRead = true), readJsonBody(req)),
      },
      env,
    );
    if (!bodyRead) req.resume(); // a GET with a body: discard it so keep-alive still works
    send(res, answer);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const { error, unexpected } = toApiError(e);
      if (unexpected) log(`hub api: ${error.status} ${req.method ?? '?'} ${req.url?.slice(0, 200) ?? ''}: ${(e as Error)?.stack ?? String(e)}`);
      if (res.headersSent || res.destroyed) return void res.destroy();
      if (!req.complete) req.resume();
      try {
        send(res, { status: error.status, body: errorBody(error), headers: { ...error.headers } });
      } catch {
        res.destroy();
      }
    });
  });
  // A malformed request line or headers: answer 400 ourselves instead of Node's bare one, never throw.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{"error":{"code":"invalid-request","message":"malformed HTTP request"}}\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => log(`hub api: server error: ${e.stack ?? e.message}`));
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shown}:${addr.port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
