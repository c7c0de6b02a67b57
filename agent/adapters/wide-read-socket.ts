// Plain-HTTP sockets for the package download that read in large pieces and that the download pulls from.
//
// libuv reads a socket 64 KiB at a time, and every piece then costs the same JavaScript in node:http, node-fetch's
// PassThrough and the download's layers, interpreted under the unit's --jitless: ~16,400 pieces per GiB. These sockets
// read up to WIDE_READ_BYTES per read into one reused buffer (node:net's `onread`) and push each read on as one
// exact-size copy: with a consumer slower than the network (hashing, slot writes) 2,048 pieces per GiB, and ~30% less
// CPU for the whole update (docs/benchmarks.md, "Where the time goes").
//
// Large pieces must not outlive two of the agent's minor GCs (memory.ts: one per 512 KiB): a piece that does is
// promoted, and its memory is freed only by a full GC (every 64 MiB). Peak private memory rose from 20 to 90 MiB with
// 1 MiB pieces, for two reasons, each handled here:
// - node-fetch's pipeline holds one piece per stage while its body is paused. The download therefore holds the
//   *socket* (hold/release, body-queue.ts pulls): nothing is read while held, the data waits in the kernel's socket
//   buffer, and node:http, which resumes its socket whenever its response wants more, cannot restart the reads.
// - node-fetch keeps the last piece read in a 'data' listener of its own (dropForeignReaders).

import http from 'node:http';
import net from 'node:net';

/**
 * The most one read hands on. 1 MiB reads saved another 0.2-0.4 CPU-s per GiB but put the agent's peak private memory
 * over the 24 MiB goal (26.5 MiB against 22.5; docs/benchmarks.md).
 */
export const WIDE_READ_BYTES = 512 << 10;

/**
 * INVARIANTS: while held, no read is started (a `_read` from the stream machinery is remembered and done on release;
 * a `resume` is dropped, release resumes); every piece pushed is a fresh Buffer of exactly the bytes read (the read
 * buffer is reused at once).
 */
export class WideReadSocket extends net.Socket {
  #held = false;
  #readWanted = false;

  constructor(readBytes = WIDE_READ_BYTES) {
    const read = Buffer.allocUnsafe(readBytes);
    let self: WideReadSocket | undefined;
    // node:net reads `onread` in the constructor (net.createConnection passes it there); @types/node lists it for connect
    super({
      onread: {
        buffer: read,
        // false stops reading until the stream machinery asks again (_read), as a full buffer does for any socket
        callback: (n: number) => {
          const piece = Buffer.allocUnsafe(n);
          read.copy(piece, 0, 0, n);
          return (self as WideReadSocket).push(piece);
        },
      },
    } as net.SocketConstructorOpts);
    self = this;
  }

  /** Stops reading (the kernel's socket buffer, then TCP flow control, hold what comes) until release(). */
  hold(): void {
    if (this.#held) return;
    this.#held = true;
    this.pause();
  }

  /** Reads again, and starts the read the stream machinery asked for while held. */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    super.resume();
    if (this.#readWanted) {
      this.#readWanted = false;
      super._read(0);
    }
  }

  override resume(): this {
    return this.#held ? this : super.resume();
  }

  override _read(size: number): void {
    if (this.#held) this.#readWanted = true;
    else super._read(size);
  }

  /**
   * Removes every 'data' listener but node:http's own (`socketOnData`), once the response has begun. node-fetch adds
   * one that keeps the last piece read, to tell a chunked body's clean end from a cut; node:http reports such a cut
   * itself (the response is destroyed with "aborted", test/integration/http-source.test.ts). Kept, it makes each
   * piece outlive two minor GCs: peak private memory 54.9 MiB against 22.5 at 1 GiB. Does nothing when node:http's
   * listener is not found by that name (another Node): the download then works, with more memory.
   */
  dropForeignReaders(): void {
    const readers = this.listeners('data');
    if (!readers.some((l) => l.name === 'socketOnData')) return;
    for (const l of readers) if (l.name !== 'socketOnData') this.removeListener('data', l as (...args: unknown[]) => void);
  }
}

/** node:http's Agent for plain HTTP with WideReadSockets; `socket` is the last one it made (one request per agent). */
export class WideReadAgent extends http.Agent {
  socket: WideReadSocket | undefined;

  override createConnection(options: http.ClientRequestArgs): net.Socket {
    const socket = new WideReadSocket();
    this.socket = socket;
    return socket.connect(options as net.NetConnectOpts);
  }
}
