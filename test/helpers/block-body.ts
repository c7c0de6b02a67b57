// A response body of `size` bytes made of one repeating random block, written as fast as the socket takes it: the
// download socket's tests serve it from the test process and from probes in child processes (wide-read-socket.test.ts).
import { createHash, randomBytes } from 'node:crypto';
import type http from 'node:http';

/** A request handler that sends `size` bytes of `block` (with a Content-Length, or chunked), and their SHA-256. */
export function blockBody(size: number, chunked = false, block = randomBytes(1 << 20)): { handler: http.RequestListener; sha256: string } {
  const hash = createHash('sha256');
  for (let at = 0; at < size; at += block.length) hash.update(block.subarray(0, Math.min(block.length, size - at)));
  const handler: http.RequestListener = (_req, res) => {
    res.writeHead(200, chunked ? {} : { 'content-length': size });
    let at = 0;
    const more = () => {
      while (at < size) {
        const piece = block.subarray(0, Math.min(block.length, size - at));
        at += piece.length;
        if (!res.write(piece)) return void res.once('drain', more);
      }
      res.end();
    };
    more();
  };
  return { handler, sha256: hash.digest('hex') };
}
