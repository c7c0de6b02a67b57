// Sockets for the package download (plain HTTP and HTTPS) that hand on large pieces and that the download pulls from.
//
// libuv reads a socket 64 KiB at a time, node:tls hands on each TLS record (at most 16 KiB) by itself, and every piece
// then costs the same JavaScript in node:http, node-fetch's PassThrough and the download's layers, interpreted under
// the unit's --jitless: ~16,400 pieces per GiB over HTTP, ~65,500 over HTTPS. These sockets read into one reused
// buffer (node:net's and node:tls's `onread`) and push pieces of up to WIDE_READ_BYTES, each one exact-size copy:
// - plain HTTP reads up to WIDE_READ_BYTES per read: with a consumer slower than the network (hashing, slot writes)
//   2,048 pieces per GiB, and ~30% less CPU for the whole update (docs/benchmarks.md, "Where the time goes");
// - HTTPS gathers the records decrypted in one turn of the event loop (libuv reads a socket up to 32 times per turn)
//   into one piece, pushed when WIDE_READ_BYTES are gathered, at the end of the turn's I/O (setImmediate), when the
//   download releases the socket, and before the end of the stream: ~2.7x less CPU per GiB than record by record.
//
// Large pieces must not outlive two of the agent's minor GCs (memory.ts: one per 512 KiB): a piece that does is
// promoted, and its memory is freed only by a full GC (memory.ts runs one once ~6 MiB piled up). Peak private memory
// rose from 20 to 90 MiB with 1 MiB pieces, for two reasons, each handled here:
// - node-fetch's pipeline holds one piece per stage while its body is paused. The download therefore holds the
//   *socket* (hold/release, body-queue.ts pulls): nothing is read while held, the data waits in the kernel's socket
//   buffer, and node:http, which resumes its socket whenever its response wants more, cannot restart the reads.
// - node-fetch keeps the last piece read in a 'data' listener of its own (dropForeignReaders).

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { FlowControl } from './body-queue.js';

/**
 * The most one piece holds. 1 MiB reads saved another 0.2-0.4 CPU-s per GiB but put the agent's peak private memory
 * over the 24 MiB goal (26.5 MiB against 22.5; docs/benchmarks.md).
 */
export const WIDE_READ_BYTES = 512 << 10;

/** The largest plaintext of one TLS record (TLS 1.2 and 1.3): what node:tls hands on at a time. */
const TLS_RECORD_BYTES = 16 << 10;

/**
 * What the download does with its socket, beside reading it. hold() stops reading (the kernel's socket buffer, then
 * TCP flow control, hold what comes) until release(), which reads again (HTTPS: first pushes what was gathered) and
 * starts the read the stream machinery asked for while held.
 */
export interface Holdable extends FlowControl {
  /**
   * Removes every 'data' listener but node:http's own (`socketOnData`), once the response has begun. node-fetch adds
   * one that keeps the last piece read, to tell a chunked body's clean end from a cut; node:http reports such a cut
   * itself (the response is destroyed with "aborted", test/integration/http-source.test.ts). Kept, it makes each
   * piece outlive two minor GCs: peak private memory 54.9 MiB against 22.5 at 1 GiB. Does nothing when node:http's
   * listener is not found by that name (another Node): the download then works, with more memory.
   */
  dropForeignReaders(): void;
}

/** A download socket (net.Socket or tls.TLSSocket) the download can hold, as made by the agents below. */
export type WideReadSocket = net.Socket & Holdable;

/**
 * Adds the hold to a socket made with `onread`. INVARIANTS: while held, no read is started (a `_read` from the stream
 * machinery is remembered and done on release; a `resume` is dropped, release resumes); release first calls `flush`
 * (HTTPS: pushes what was gathered while held).
 */
function holdable<S extends net.Socket>(socket: S, flush: () => void = () => undefined): S & Holdable & { held(): boolean } {
  const resume = socket.resume;
  const read = socket._read;
  let held = false;
  let readWanted = false;
  return Object.assign(socket, {
    held: () => held,
    hold() {
      if (held) return;
      held = true;
      socket.pause(); // with `onread`, node:net stops the handle's reads
    },
    release() {
      if (!held) return;
      held = false;
      flush();
      resume.call(socket);
      if (readWanted) {
        readWanted = false;
        read.call(socket, 0);
      }
    },
    // node:http resumes its socket whenever its response wants more
    resume(): S {
      return held ? socket : (resume.call(socket) as S);
    },
    _read(size: number) {
      if (held) readWanted = true;
      else read.call(socket, size);
    },
    dropForeignReaders() {
      const readers = socket.listeners('data');
      if (!readers.some((l) => l.name === 'socketOnData')) return;
      for (const l of readers) if (l.name !== 'socketOnData') socket.removeListener('data', l as (...args: unknown[]) => void);
    },
  });
}

/**
 * A plain TCP connection that reads up to WIDE_READ_BYTES at a time into one reused buffer and pushes each read as one
 * exact-size copy. Not the read buffer itself, handed on with a fresh one for the next read: node:net asks for that
 * one right after a read, so it waits through the hold, outlives two minor GCs and is promoted; peak private memory
 * was 45 MiB at 256 MiB and 77 MiB at 1 GiB (against 22), to save a copy that costs ~0.1 CPU-s per GiB.
 */
export function connectWide(options: net.NetConnectOpts): WideReadSocket {
  const buffer = Buffer.allocUnsafe(WIDE_READ_BYTES);
  // false stops reading until the stream machinery asks again (_read), as a full buffer does for any socket; called
  // only once connected, when `socket` is set
  const callback = (n: number) => socket.push(Buffer.from(buffer.subarray(0, n)));
  const socket = holdable(net.connect({ ...options, onread: { buffer, callback } } as net.NetConnectOpts));
  return socket;
}

/**
 * A TLS connection whose records are gathered into pieces of up to WIDE_READ_BYTES (see the top of this file).
 * INVARIANTS: gather[0..filled) are the bytes after the last piece pushed, in order; nothing is pushed while held;
 * everything gathered is pushed before the end of the stream.
 */
export function connectWideTls(options: tls.ConnectionOptions): WideReadSocket {
  const gather = Buffer.allocUnsafe(WIDE_READ_BYTES);
  let filled = 0;
  let later: NodeJS.Immediate | undefined;
  // flush, onRecord and atTurnEnd run only once connected, when `socket` and `push` (below) are set
  const flush = (): boolean => {
    if (later) clearImmediate(later);
    later = undefined;
    // destroyed (a pending end-of-turn push after a close, an error): nothing more is pushed
    if (filled === 0 || socket.destroyed) return true;
    const piece = Buffer.from(gather.subarray(0, filled));
    filled = 0;
    return push.call(socket, piece);
  };
  const onRecord = (n: number, record: Buffer): boolean => {
    // a full gather is pushed even while held: the records decrypted in this turn must go somewhere
    if (filled + n > gather.length && !flush()) return false;
    record.copy(gather, filled, 0, n);
    filled += n;
    if (socket.held()) return false;
    if (filled === gather.length) return flush();
    later ??= setImmediate(atTurnEnd);
    return true;
  };
  // held since: release pushes it
  const atTurnEnd = () => void (socket.held() ? (later = undefined) : flush());
  const socket = holdable(tls.connect({ ...options, onread: { buffer: Buffer.allocUnsafe(TLS_RECORD_BYTES), callback: onRecord } } as tls.ConnectionOptions), () => void flush());
  const push = socket.push;
  // node:net pushes null at the end of the stream: what was gathered goes first
  socket.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (chunk === null) flush();
    return push.call(socket, chunk, encoding);
  };
  return socket;
}

/** node:http's Agent for plain HTTP with wide reads; `socket` is the last one it made (one request per agent). */
export class WideReadAgent extends http.Agent {
  socket: WideReadSocket | undefined;

  override createConnection(options: http.ClientRequestArgs): net.Socket {
    return (this.socket = connectWide(options as net.NetConnectOpts));
  }
}

/**
 * node:https's Agent with gathered TLS records; `socket` is the last one it made (one request per agent). Without
 * node:https's TLS session cache: each download makes one connection (keepAlive off).
 */
export class WideTlsAgent extends https.Agent {
  socket: WideReadSocket | undefined;

  override createConnection(options: http.ClientRequestArgs): net.Socket {
    return (this.socket = connectWideTls(options as tls.ConnectionOptions));
  }
}
