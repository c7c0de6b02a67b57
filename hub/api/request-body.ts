// Reads a request body as JSON with a size limit. An oversized body is drained (up to a bound) before the 413
// goes out, so the client reads the answer instead of a connection reset in the middle of its upload.

import type { IncomingMessage } from 'node:http';
import { ApiError } from './api-errors.js';

/** Largest body the API accepts: 1 MiB. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Past this many bytes of an oversized body we stop draining; the caller answers and drops the connection. */
const MAX_DRAIN_BYTES = 16 * MAX_BODY_BYTES;

/**
 * Reads the whole body (at most `limit` bytes) and parses it as JSON; an empty body gives `undefined`.
 * The Content-Type is not checked (curl -d sends form-urlencoded); browsers are kept out by the caller.
 * Throws ApiError 413 payload-too-large, 400 bad-json, 400 invalid-request when the client hangs up mid-body.
 */
export async function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const tooLargeError = (close: boolean) =>
    new ApiError(413, 'payload-too-large', `the request body is larger than ${limit} bytes; send at most 1 MiB`, close ? { Connection: 'close' } : {});
  const declared = Number(req.headers['content-length'] ?? 0);
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = declared > limit;
  await new Promise<void>((resolve, reject) => {
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
      else if (size > MAX_DRAIN_BYTES) {
        req.pause();
        reject(tooLargeError(true));
      }
    });
    req.on('end', () => resolve());
    // a client that hangs up mid-body: settle (nobody reads the answer) instead of leaving the promise pending
    req.on('close', () => {
      if (!req.complete) reject(new ApiError(400, 'invalid-request', 'the client closed the connection before the body ended'));
    });
    req.on('error', () => undefined); // 'close' follows and settles the promise
  });
  if (tooLarge) throw tooLargeError(false);
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks, size).toString('utf8')) as unknown;
  } catch (e) {
    throw new ApiError(400, 'bad-json', `the request body is not valid JSON: ${(e as Error).message}`);
  }
}
