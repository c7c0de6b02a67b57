// A small static HTTP server for firmware packages: GET/HEAD, single byte ranges (Range, If-Range), strong ETags,
// streaming from disk. Enough for a lab or the demo; production fleets serve packages from their CDN/object store.
// Never serves a private key (secret-files.ts) nor a file reached through a symlink out of the served directory.

import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import http from 'node:http';
import { basename, join, resolve, sep } from 'node:path';
import { findSecretFiles, secretReason } from './secret-files.js';

export interface PackageServer {
  url: string;
  /** URL of a file in the served directory */
  urlOf(file: string): string;
  close(): Promise<void>;
}

export interface PackageServerOptions {
  dir: string;
  host: string;
  port: number;
  /** picks the file to send for a request (the demo hands some devices a different package); default: the path */
  choose?: (path: string, req: http.IncomingMessage) => string;
  log?: (line: string) => void;
  /** a warning for the operator (a private key in the served folder); default: log */
  warn?: (line: string) => void;
}

function etagOf(size: number, mtimeMs: number): string {
  return `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
}

export async function startPackageServer(opts: PackageServerOptions): Promise<PackageServer> {
  const root = await realpath(resolve(opts.dir)).catch(() => resolve(opts.dir));
  const warn = opts.warn ?? opts.log ?? (() => undefined);
  for (const s of await findSecretFiles(root))
    warn(`${join(root, s.path)} will not be served: ${s.reason}. Keep signing keys out of the served folder (only *.pub goes to devices)`);
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    void serve(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return void res.writeHead(400).end();
    }
    const chosen = opts.choose ? opts.choose(path, req) : path;
    const named = resolve(join(root, chosen));
    // a symlink may point anywhere: what is served is what the real path is
    const file = await realpath(named).catch(() => named);
    const st = file.startsWith(root + sep) ? await stat(file).catch(() => undefined) : undefined;
    if (!st?.isFile()) {
      opts.log?.(`404 ${path}`);
      return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
    const secret = await secretReason(file, st.size);
    if (secret) {
      // the same answer as a missing file: a prober learns nothing
      warn(`refused ${path}: ${secret}; it stays private (move it out of the served folder)`);
      return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
    const etag = etagOf(st.size, st.mtimeMs);
    const headers: http.OutgoingHttpHeaders = { etag, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream', 'last-modified': st.mtime.toUTCString() };
    let start = 0;
    let end = st.size - 1;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'];
    if (range && (ifRange === undefined || ifRange === etag)) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), end) : end;
      if (start > end) return void res.writeHead(416, { 'content-range': `bytes */${st.size}` }).end();
      res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${st.size}`, 'content-length': end - start + 1 });
    } else res.writeHead(200, { ...headers, 'content-length': st.size });
    opts.log?.(`${res.statusCode} ${path}${chosen !== path ? ` (sent ${basename(chosen)})` : ''}${start > 0 ? ` from byte ${start}` : ''}`);
    if (req.method === 'HEAD') return void res.end();
    const stream = createReadStream(file, { start, end, highWaterMark: 256 * 1024 });
    // pipe() does not forward a read error (the file removed or unreadable mid-send): without a listener it would
    // be thrown and end the process; cut the response instead, so the client sees a short body and resumes
    stream.once('error', (e) => {
      warn(`read error on ${path}: ${e.message}`);
      res.destroy();
    });
    stream.pipe(res);
    res.once('close', () => stream.destroy());
  }
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port, opts.host, () => {
      server.off('error', fail);
      ok();
    });
  });
  // an error once listening (EMFILE on accept…) must be heard: an 'error' event nobody listens to ends the process
  server.on('error', (e) => warn(`server error: ${e.message}`));
  const port = (server.address() as import('node:net').AddressInfo).port;
  const host = opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    urlOf: (file) => `${url}/${encodeURIComponent(file)}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}
