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
// With a consumer faster than the network (a device: the network sets the pace), reads are small whatever the buffer,
// so a small read (HTTPS: a small turn) waits GATHER_WAIT_MS for the kernel to gather more, while GatherPolicy
// (gather-policy.ts) finds the waits cost no throughput: at 40 MB/s, pieces ~3x larger and ~15% less CPU for the
// update (docs/benchmarks.md, "Gathered reads on a slow link").
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
import { GatherPolicy, type WaitPolicy } from './gather-policy.js';

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
export type WideReadSocket = net.Socket & Holdable & { readonly gathering: GatherCounts };

/** What a socket's gathering did: pieces pushed, waits for more (reads or TLS turns), the wait policy's verdicts. */
export interface GatherCounts {
  pieces: number;
  waits: number;
  verdicts: WaitPolicy['verdicts'];
}

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

/** A read smaller than this, with more of the body to come, waits GATHER_WAIT_MS for more (connectWide). */
const GATHER_FLOOR = WIDE_READ_BYTES / 2;

/**
 * How long a small read waits for the kernel to gather more. At 40 MB/s, 8 ms brings ~320 KB: pieces of ~390 KiB on
 * average against ~128 KiB read as they came (docs/benchmarks.md, "Gathered reads on a slow link").
 */
export const GATHER_WAIT_MS = 8;

/**
 * A plain TCP connection that reads up to WIDE_READ_BYTES at a time into one reused buffer and pushes each piece as one
 * exact-size copy. Not the read buffer itself, handed on with a fresh one for the next read: node:net asks for that
 * one right after a read, so it waits through the hold, outlives two minor GCs and is promoted; peak private memory
 * was 45 MiB at 256 MiB and 77 MiB at 1 GiB (against 22), to save a copy that costs ~0.1 CPU-s per GiB.
 *
 * On a link slower than the download's consumer, reads are small (~128 KiB at 40 MB/s), and each piece costs the same
 * JavaScript and wake-ups however small. So a read under GATHER_FLOOR stops reading for GATHER_WAIT_MS, and the next
 * read lands after it in the same buffer (node:net's `onread` buffer may be a function: the next read's place); the
 * piece is pushed after that read, or by the timer's turn if nothing came. The kernel's socket buffer holds what
 * arrives meanwhile; where it cannot hold a wait's worth, the waits would slow the download, and GatherPolicy
 * (gather-policy.ts) measures that and stops them.
 * INVARIANTS: buffer[start..end) are the bytes read and not yet pushed, in order; the next read lands at `end` (the
 * `onread` buffer function's last answer: it is asked after each read callback); nothing is pushed while held or
 * after the socket is destroyed; everything gathered is pushed before the end of the stream.
 */
export function connectWide(options: net.NetConnectOpts, policy: WaitPolicy = new GatherPolicy()): WideReadSocket {
  const buffer = Buffer.allocUnsafe(WIDE_READ_BYTES);
  const gathering: GatherCounts = { pieces: 0, waits: 0, verdicts: policy.verdicts };
  let start = 0;
  let end = 0;
  let waited = false; // a wait began since the last push
  let waiting: NodeJS.Timeout | undefined;
  let checking: NodeJS.Immediate | undefined;
  // `read`: in the read callback, where the buffer starts over (node:net asks for the next read's place after it);
  // elsewhere the next read still lands at `end`, so `start` catches up
  const flush = (at: 'read' | 'other'): boolean => {
    clearTimers();
    waited = false;
    const piece = end > start && !socket.destroyed ? Buffer.from(buffer.subarray(start, end)) : undefined;
    if (at === 'read') start = end = 0;
    else start = end;
    if (!piece) return true;
    gathering.pieces++;
    policy.pushed(piece.length, performance.now());
    return push.call(socket, piece);
  };
  const clearTimers = () => {
    if (waiting) clearTimeout(waiting);
    if (checking) clearImmediate(checking);
    waiting = checking = undefined;
  };
  // the wait is over: read again; what this turn's poll reads is pushed by the read callback, else by the check
  const afterWait = () => {
    waiting = undefined;
    if (socket.held() || socket.destroyed) return;
    read.call(socket, 0);
    checking = setImmediate(() => ((checking = undefined), waited && !socket.held() && flush('other')));
  };
  // false stops reading until the stream machinery asks again (_read) or the wait is over; called only once
  // connected, when `socket` is set
  const callback = (n: number): boolean => {
    end += n;
    if (waited || end === buffer.length || end - start >= GATHER_FLOOR || !policy.mayWait()) return flush('read');
    waited = true;
    gathering.waits++;
    waiting = setTimeout(afterWait, GATHER_WAIT_MS);
    return false;
  };
  const socket = holdable(net.connect({ ...options, onread: { buffer: () => buffer.subarray(end), callback } } as net.NetConnectOpts), () => void flush('other'));
  const push = socket.push;
  const read = socket._read;
  // node:net pushes null at the end of the stream: what was gathered goes first
  socket.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (chunk === null) flush('other');
    return push.call(socket, chunk, encoding);
  };
  socket.once('close', clearTimers);
  return Object.assign(socket, { gathering });
}

/**
 * A TLS connection whose records are gathered into pieces of up to WIDE_READ_BYTES (see the top of this file). A turn
 * that gathered less than GATHER_FLOOR may wait, as connectWide's small reads do and on the same policy: the socket
 * reads nothing for GATHER_WAIT_MS (records already decrypted are kept), then reads again, and what that turn brings
 * is pushed at its end with what was gathered before.
 * INVARIANTS: gather[0..filled) are the bytes after the last piece pushed, in order; nothing is pushed while held;
 * everything gathered is pushed before the end of the stream.
 */
export function connectWideTls(options: tls.ConnectionOptions, policy: WaitPolicy = new GatherPolicy()): WideReadSocket {
  const gather = Buffer.allocUnsafe(WIDE_READ_BYTES);
  const gathering: GatherCounts = { pieces: 0, waits: 0, verdicts: policy.verdicts };
  let filled = 0;
  let later: NodeJS.Immediate | undefined;
  let waiting: NodeJS.Timeout | undefined;
  let waited = false; // a wait began since the last push
  const clearTimers = () => {
    if (later) clearImmediate(later);
    if (waiting) clearTimeout(waiting);
    later = waiting = undefined;
  };
  // flush, onRecord, atTurnEnd and afterWait run only once connected, when `socket` and `push` (below) are set
  const flush = (): boolean => {
    clearTimers();
    waited = false;
    // destroyed (a pending end-of-turn push after a close, an error): nothing more is pushed
    if (filled === 0 || socket.destroyed) return true;
    const piece = Buffer.from(gather.subarray(0, filled));
    filled = 0;
    gathering.pieces++;
    policy.pushed(piece.length, performance.now());
    return push.call(socket, piece);
  };
  const onRecord = (n: number, record: Buffer): boolean => {
    // a full gather is pushed even while held: the records decrypted in this turn must go somewhere
    if (filled + n > gather.length && !flush()) return false;
    record.copy(gather, filled, 0, n);
    filled += n;
    if (socket.held()) return false;
    if (filled === gather.length) return flush();
    // decrypted after the wait began: kept for its end
    if (waiting) return false;
    later ??= setImmediate(atTurnEnd);
    return true;
  };
  // held since: release pushes it
  const atTurnEnd = () => {
    later = undefined;
    if (socket.held()) return;
    if (!waited && filled > 0 && filled < GATHER_FLOOR && policy.mayWait()) {
      waited = true;
      gathering.waits++;
      socket.pause(); // with `onread`, node:net stops the handle's reads
      waiting = setTimeout(afterWait, GATHER_WAIT_MS);
      return;
    }
    flush();
  };
  // the wait is over: read again; this turn's records, or none, are pushed at its end with the rest
  const afterWait = () => {
    waiting = undefined;
    if (socket.held() || socket.destroyed) return;
    socket.resume();
    later ??= setImmediate(atTurnEnd);
  };
  const socket = holdable(tls.connect({ ...options, onread: { buffer: Buffer.allocUnsafe(TLS_RECORD_BYTES), callback: onRecord } } as tls.ConnectionOptions), () => void flush());
  const push = socket.push;
  // node:net pushes null at the end of the stream: what was gathered goes first
  socket.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (chunk === null) flush();
    return push.call(socket, chunk, encoding);
  };
  socket.once('close', clearTimers);
  return Object.assign(socket, { gathering });
}

/** The agents' options: node:http's, and each connection's wait policy (tests; the default measures, gather-policy.ts). */
export type WideAgentOptions = http.AgentOptions & { gatherPolicy?: () => WaitPolicy };

/** node:http's Agent for plain HTTP with wide reads; `socket` is the last one it made (one request per agent). */
export class WideReadAgent extends http.Agent {
  socket: WideReadSocket | undefined;
  private readonly policy: () => WaitPolicy;

  constructor({ gatherPolicy, ...options }: WideAgentOptions = {}) {
    super(options);
    this.policy = gatherPolicy ?? (() => new GatherPolicy());
  }

  override createConnection(options: http.ClientRequestArgs): net.Socket {
    return (this.socket = connectWide(options as net.NetConnectOpts, this.policy()));
  }
}

/**
 * node:https's Agent with gathered TLS records; `socket` is the last one it made (one request per agent). Without
 * node:https's TLS session cache: each download makes one connection (keepAlive off).
 */
export class WideTlsAgent extends https.Agent {
  socket: WideReadSocket | undefined;
  private readonly policy: () => WaitPolicy;

  constructor({ gatherPolicy, ...options }: WideAgentOptions & https.AgentOptions = {}) {
    super(options);
    this.policy = gatherPolicy ?? (() => new GatherPolicy());
  }

  override createConnection(options: http.ClientRequestArgs): net.Socket {
    return (this.socket = connectWideTls(options as tls.ConnectionOptions, this.policy()));
  }
}
