// The device-local control channel: a Unix socket in the state directory (mode 0600: only the agent's user, root on
// a board, may connect; unix(7) needs write permission on the socket file to connect). One request per connection,
// a JSON line; the answer is a stream of JSON lines, then the server closes. Used by `fota-agent status|install|…`.
//
// INVARIANTS
// - Only the holder of the state lock (state-lock.ts) listens, so an existing socket file is stale and is replaced.
// - The socket is never reachable by others, even for an instant: it is created under umask 0177.
// - A request line is at most MAX_REQUEST bytes; a client that sends more, or nothing within 10 s, is dropped.

import { unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

const MAX_REQUEST = 64 * 1024;

export function controlSocketPath(stateDir: string): string {
  return join(stateDir, 'control.sock');
}

/** Handles one request: `send` writes a message line; `signal` aborts when the client goes away. */
export type ControlHandler = (request: unknown, send: (message: object) => void, signal: AbortSignal) => Promise<void>;

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

/** Listens on the state directory's control socket. Rejects when it cannot (read-only folder, path too long). */
export async function serveControl(stateDir: string, handler: ControlHandler): Promise<ControlServer> {
  const path = controlSocketPath(stateDir);
  const open = new Set<Socket>();
  const server: Server = createServer((sock) => {
    open.add(sock);
    const gone = new AbortController();
    sock.once('close', () => {
      open.delete(sock);
      gone.abort();
    });
    sock.on('error', () => undefined);
    sock.setTimeout(10_000, () => sock.destroy());
    let buf = '';
    const onData = (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > MAX_REQUEST) sock.destroy();
        return;
      }
      sock.off('data', onData);
      sock.setTimeout(0);
      let request: unknown;
      try {
        request = JSON.parse(buf.slice(0, nl));
      } catch {
        sock.end(`${JSON.stringify({ type: 'done', ok: false, message: 'the request is not JSON' })}\n`);
        return;
      }
      const send = (m: object) => {
        if (!sock.destroyed) sock.write(`${JSON.stringify(m)}\n`);
      };
      handler(request, send, gone.signal).then(
        () => sock.end(),
        (e: unknown) => sock.end(`${JSON.stringify({ type: 'done', ok: false, message: `the agent failed: ${(e as Error).message}` })}\n`),
      );
    };
    sock.setEncoding('utf8');
    sock.on('data', onData);
  });
  try {
    unlinkSync(path);
  } catch {
    // no stale socket
  }
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  server.unref();
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Why a client could not reach the agent: no agent listening, or not allowed to. */
export class ControlUnavailable extends Error {
  constructor(
    readonly reason: 'absent' | 'denied',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Sends one request to the agent holding `stateDir` and calls `onMessage` for each answer line; resolves when the
 * agent closes. Rejects with ControlUnavailable when no agent listens (ENOENT, ECONNREFUSED) or access is denied.
 */
export function requestControl(stateDir: string, request: object, onMessage: (m: Record<string, unknown>) => void, signal?: AbortSignal): Promise<void> {
  const path = controlSocketPath(stateDir);
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let connected = false;
    let buf = '';
    const onAbort = () => sock.destroy();
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.setEncoding('utf8');
    sock.once('connect', () => {
      connected = true;
      sock.write(`${JSON.stringify(request)}\n`);
    });
    sock.on('data', (d: string) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          onMessage(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // a line that is not JSON is not from our agent: ignore it
        }
      }
    });
    sock.once('close', () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      signal?.removeEventListener('abort', onAbort);
      if (connected) return resolve();
      if (e.code === 'EACCES' || e.code === 'EPERM') reject(new ControlUnavailable('denied', `permission denied on ${path}: run this as the agent's user (root: sudo fota-agent …)`));
      else reject(new ControlUnavailable('absent', `no agent answers on ${path} (${e.code ?? e.message})`));
    });
  });
}
