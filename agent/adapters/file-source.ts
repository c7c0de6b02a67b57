// The package byte source for a local file (`fota-agent install FILE`: a USB stick, an SSH copy), shaped like the
// HTTP source so the same verifying installer reads it. Only the device-local control channel writes file: URIs
// (Object 5 refuses them from the hub), and only regular files are opened: never a FIFO or a device node.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { FotaError } from '../core/errors.js';
import type { HttpStream } from './http-source.js';

/** Opens a file: URI from byte `offset`; `validator` (size, mtime, inode of an earlier open) must still match to resume. */
export async function openFileStream(uri: string, opts: { offset?: number; validator?: string; signal?: AbortSignal } = {}): Promise<HttpStream> {
  let path: string;
  try {
    path = fileURLToPath(uri);
  } catch (e) {
    throw new FotaError('invalid-uri', `${uri} is not a file URI with an absolute path`, { cause: e });
  }
  const st = await stat(path).catch((e: NodeJS.ErrnoException) => {
    throw new FotaError(e.code === 'ENOENT' ? 'not-found' : 'io-error', `cannot read the package ${path}: ${e.code ?? e.message}`, { cause: e });
  });
  if (!st.isFile()) throw new FotaError('invalid-uri', `${path} is not a regular file`);
  const etag = `${st.size}-${Math.floor(st.mtimeMs)}-${st.ino}`;
  const offset = opts.offset ?? 0;
  // a changed file is read again from the start, as an HTTP server answers a stale If-Range with the whole body
  const start = offset > 0 && opts.validator === etag && offset <= st.size ? offset : 0;
  let stream: ReturnType<typeof createReadStream> | undefined;
  return {
    total: st.size,
    etag,
    start,
    close: () => stream?.destroy(),
    async *[Symbol.asyncIterator]() {
      stream = createReadStream(path, { start, highWaterMark: 64 * 1024, ...(opts.signal ? { signal: opts.signal } : {}) });
      try {
        for await (const chunk of stream) yield chunk as Buffer;
      } catch (e) {
        if ((e as Error).name === 'AbortError') throw e;
        throw new FotaError('io-error', `reading the package ${path} failed: ${(e as Error).message}`, { cause: e });
      } finally {
        stream.destroy();
      }
    },
  };
}
