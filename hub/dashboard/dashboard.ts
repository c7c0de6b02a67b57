// The hub's web dashboard, as the HTTP API sees it (BrowserFront): the login that exchanges the API token for a
// session cookie, the HTML shell and its built assets, the live event stream and the device inventory's pages.
// Same rules as the API: with a token, nothing but the login form and the assets without a session; without a token
// (loopback only), a session is handed to any page load that names the hub by a loopback address.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from '../api/api-errors.js';
import { isJobId } from '../api/api-routes.js';
import type { BrowserFront } from '../api/browser-front.js';
import { hostIsLoopback } from '../api/loopback.js';
import type { DeviceInventory } from '../fleet/device-inventory.js';
import { DeviceQueryError, parseDeviceQuery, queryDevices } from '../fleet/device-query.js';
import { loadAssets, type Asset } from './assets.js';
import { browserSession, cookieValue, sameOrigin, sessionCookie } from './browser-auth.js';
import { EventStreams, frame } from './event-stream.js';
import { LiveFeed, type FeedFilter, type FeedSource } from './live-feed.js';
import { LoginLimit } from './login-limit.js';
import { appPage, loginPage, SECURITY_HEADERS } from './pages.js';
import { SESSION_COOKIE, sameSecret, Sessions } from './sessions.js';

const MAX_LOGIN_BODY = 8 * 1024;

export interface DashboardOptions {
  /** the API's bearer token; undefined for a loopback-only hub without one */
  token?: string;
  version: string;
  /** the job store (its changes are pushed live) */
  store: FeedSource;
  /** the device inventory (GET /v1/inventory); its changes are pushed live once wired with deviceChanged() */
  inventory?: DeviceInventory;
  maxStreams?: number;
  maxBufferBytes?: number;
  /** shortest time between two pushes of coalesced changes, ms */
  minGapMs?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      text += c;
      if (text.length > MAX_LOGIN_BODY) reject(new ApiError(413, 'payload-too-large', 'the login form is larger than 8 KiB'));
    });
    req.on('end', () => resolve(new URLSearchParams(text)));
    req.on('error', reject);
  });
}

export class Dashboard implements BrowserFront {
  readonly sessions = new Sessions();
  readonly streams: EventStreams<FeedFilter>;
  readonly feed: LiveFeed;
  private readonly limit = new LoginLimit();
  private readonly built = loadAssets();

  constructor(private readonly opts: DashboardOptions) {
    const log = opts.log ?? (() => undefined);
    this.streams = new EventStreams<FeedFilter>({ log, ...(opts.maxStreams !== undefined ? { maxClients: opts.maxStreams } : {}), ...(opts.maxBufferBytes !== undefined ? { maxBufferBytes: opts.maxBufferBytes } : {}) });
    this.feed = new LiveFeed(opts.store, this.streams, { log, ...(opts.minGapMs !== undefined ? { minGapMs: opts.minGapMs } : {}) });
    this.feed.start();
    if ('missing' in this.built) log(this.built.missing);
  }

  /** Tells the open dashboards that a device changed (the inventory's onChange). */
  deviceChanged(deviceId: string): void {
    this.feed.deviceChanged(deviceId);
  }

  close(): void {
    this.feed.stop();
    this.streams.close();
  }

  owns(path: string): boolean {
    return path === '/' || path === '/ui' || path === '/favicon.ico' || path.startsWith('/ui/');
  }

  session(req: IncomingMessage): boolean {
    return browserSession(req, this.sessions) !== undefined;
  }

  private send(res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': String(Buffer.byteLength(body)), ...SECURITY_HEADERS, ...headers });
    res.end(body);
  }

  private redirect(res: ServerResponse, to: string, headers: Record<string, string> = {}): void {
    this.send(res, 303, '', { Location: to, ...headers });
  }

  async serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    if (method === 'GET') req.resume();
    if (this.opts.token === undefined && !hostIsLoopback(req.headers.host)) {
      // a DNS name rebound to 127.0.0.1 would otherwise get a session (and the page its CSRF token)
      throw new ApiError(403, 'forbidden', `Host ${JSON.stringify(req.headers.host)} is not a loopback name; use http://127.0.0.1:PORT/ui/`);
    }
    if (path === '/favicon.ico') return this.send(res, 404, '');
    if (path === '/' || path === '/ui') return method === 'GET' ? this.redirect(res, '/ui/') : this.send(res, 405, '', { Allow: 'GET' });
    if (path.startsWith('/ui/assets/') && method === 'GET') return this.asset(req, res, path.slice('/ui/assets/'.length));
    if (path === '/ui/' && method === 'GET') return this.page(req, res);
    if (path === '/ui/login' && method === 'POST') return this.login(req, res);
    if (path === '/ui/logout' && method === 'POST') return this.logout(req, res);
    if (path === '/ui/login' && method === 'GET') return this.redirect(res, '/ui/');
    return this.send(res, 404, 'not found\n', { 'Content-Type': 'text/plain; charset=utf-8' });
  }

  private asset(req: IncomingMessage, res: ServerResponse, name: string): void {
    if ('missing' in this.built) return this.send(res, 503, `${this.built.missing}\n`, { 'Content-Type': 'text/plain; charset=utf-8' });
    const a: Asset | undefined = this.built.assets.get(name);
    if (!a) return this.send(res, 404, 'not found\n', { 'Content-Type': 'text/plain; charset=utf-8' });
    if (req.headers['if-none-match'] === a.etag) return this.send(res, 304, '', { ETag: a.etag, 'Cache-Control': 'no-cache' });
    // no-cache: the browser keeps it but asks (ETag) each time, so a hub upgrade is picked up at the next load
    this.send(res, 200, a.body, { 'Content-Type': a.type, ETag: a.etag, 'Cache-Control': 'no-cache' });
  }

  private page(req: IncomingMessage, res: ServerResponse): void {
    const id = cookieValue(req, SESSION_COOKIE);
    let session = id === undefined ? undefined : this.sessions.get(id);
    const headers: Record<string, string> = {};
    if (!session && this.opts.token === undefined) {
      const fresh = this.sessions.create();
      session = fresh.session;
      headers['Set-Cookie'] = sessionCookie(req, fresh.id);
    }
    if (!session) return this.send(res, 200, loginPage());
    this.send(res, 200, appPage(session.csrf, { version: this.opts.version, canLogout: this.opts.token !== undefined }), headers);
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = this.opts.token;
    if (token === undefined) return void (req.resume(), this.redirect(res, '/ui/'));
    // a login posted by another site's page would log the victim in to the attacker's choice (login CSRF)
    if (!sameOrigin(req)) return void (req.resume(), this.send(res, 403, loginPage('The login must come from this page.')));
    const who = req.socket.remoteAddress ?? '?';
    const wait = this.limit.waitMs(who);
    if (wait > 0) {
      req.resume();
      return this.send(res, 429, loginPage(`Too many wrong tokens: try again in ${Math.ceil(wait / 1000)} s.`), { 'Retry-After': String(Math.ceil(wait / 1000)) });
    }
    const form = await readForm(req);
    if (!sameSecret(form.get('token') ?? '', token)) {
      this.limit.failed(who);
      this.opts.log?.(`hub dashboard: failed login from ${who}`);
      return this.send(res, 401, loginPage('Wrong token.'));
    }
    this.limit.succeeded(who);
    const { id } = this.sessions.create();
    this.redirect(res, '/ui/', { 'Set-Cookie': sessionCookie(req, id) });
  }

  private logout(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    if (!browserSession(req, this.sessions)) throw new ApiError(401, 'unauthorized', 'not logged in');
    this.sessions.delete(cookieValue(req, SESSION_COOKIE) ?? '');
    this.send(res, 204, '', { 'Set-Cookie': sessionCookie(req, '') });
  }

  events(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const job = url.searchParams.get('job');
    if (job !== null && job !== '' && !isJobId(job)) throw new ApiError(400, 'invalid-job', 'job= must be a job id');
    const filter: FeedFilter = job ? { job } : {};
    this.streams.open(req, res, filter, () => frame('hello', { time: new Date().toISOString(), ...filter }) + this.feed.snapshot(filter));
  }

  inventory(query: URLSearchParams): unknown {
    const inv = this.opts.inventory;
    if (!inv) throw new ApiError(404, 'not-found', 'this hub keeps no device inventory');
    try {
      return queryDevices(parseDeviceQuery(query), inv.sortedIds(), (id) => inv.get(id));
    } catch (e) {
      if (e instanceof DeviceQueryError) throw new ApiError(400, 'invalid-request', e.message);
      throw e;
    }
  }
}
