// Static HTTP/1.1 file server for the update benchmark, run as its own process so that serving does not share
// an event loop with the measuring code. Loopback only. GET/HEAD, one "Range: bytes=a-b", If-Range, strong ETag.
// usage: node range-server.mjs ROOT PORT [KEY CERT]   (prints "listening PORT" on stdout once ready; PORT 0 = any
// free port; with KEY and CERT, PEM files, it serves HTTPS)

import { createReadStream, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { pipeline } from 'node:stream';

const root = path.resolve(process.argv[2] ?? '.');
const port = Number(process.argv[3] ?? 0);
const [keyFile, certFile] = process.argv.slice(4);

const handler = (req, res) => {
  const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
  const file = path.join(root, rel);
  if (rel === '' || !file.startsWith(root + path.sep)) return void res.writeHead(404).end();
  let st;
  try {
    st = statSync(file);
  } catch {
    return void res.writeHead(404).end();
  }
  if (!st.isFile()) return void res.writeHead(404).end();
  // nginx-style strong validator: mtime and size in hex. The agent only checkpoints its resume point when the
  // server gives a validator, as real package servers (nginx, S3) do, so the benchmark sends one.
  const etag = `"${Math.floor(st.mtimeMs).toString(16)}-${st.size.toString(16)}"`;
  let start = 0;
  let end = st.size - 1;
  const range = req.headers.range;
  const ifRange = req.headers['if-range'];
  const useRange = range !== undefined && (ifRange === undefined || ifRange === etag);
  if (useRange) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    if (m && m[1] !== '') {
      start = Number(m[1]);
      if (m[2] !== '') end = Math.min(end, Number(m[2]));
    } else if (m && m[2] !== '') {
      start = Math.max(0, st.size - Number(m[2]));
    }
    if (!m || start > end) return void res.writeHead(416, { 'content-range': `bytes */${st.size}` }).end();
  }
  const headers = {
    'content-type': 'application/octet-stream',
    'content-length': end - start + 1,
    'accept-ranges': 'bytes',
    etag,
    'last-modified': st.mtime.toUTCString(),
  };
  if (useRange) headers['content-range'] = `bytes ${start}-${end}/${st.size}`;
  res.writeHead(useRange ? 206 : 200, headers);
  if (req.method === 'HEAD') return void res.end();
  // 256 KiB reads, as the peers' server (/work/shared/peers/lib/server.mjs) did, so the figures compare
  pipeline(createReadStream(file, { start, end, highWaterMark: 256 * 1024 }), res, () => undefined);
};
const server = keyFile && certFile ? https.createServer({ key: readFileSync(keyFile), cert: readFileSync(certFile) }, handler) : http.createServer(handler);

server.keepAliveTimeout = 5000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
