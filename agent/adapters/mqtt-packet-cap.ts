// A cap on the size of the MQTT packets the agent receives, enforced on the byte stream before mqtt.js sees them.
// mqtt-packet 9's parser has no size limit (it appends every byte until a packet is whole; mqtt.js checks MQTT 5's
// maximumPacketSize only after that), so a 200 MiB message became a 200 MiB buffer. Here an oversized PUBLISH is
// passed on with its payload cut off — fixed header flags, topic, packet id and properties intact, so mqtt.js
// acknowledges it (QoS 1) and the broker does not send it again — and its payload bytes are dropped as they arrive.
// Any other oversized or malformed packet closes the connection (the agent reconnects).

import { Duplex } from 'node:stream';
import { reclaimEvery } from './memory.js';

const PUBLISH = 3;

export interface CapOptions {
  /** largest Remaining Length passed on whole (MQTT 3.1.1 §2.2.3) */
  maxRemaining: number;
  /** 4 = MQTT 3.1.1, 5 = MQTT 5 (a PUBLISH variable header carries properties) */
  protocolVersion: 4 | 5;
  /** an oversized PUBLISH was cut: its topic and its size */
  oversized(info: { topic: string; bytes: number }): void;
}

/**
 * The byte-level scanner: follows packet boundaries (fixed header, Remaining Length, body) and returns what to pass
 * on. Memory: at most `maxRemaining` bytes of one oversized packet's variable header are held. Throws on a packet
 * it cannot pass (malformed length, oversized non-PUBLISH, variable header over the cap).
 */
export class PacketCap {
  private state: 'fixed' | 'length' | 'pass' | 'head' | 'skip' = 'fixed';
  private first = 0;
  private lengthBytes: number[] = [];
  private length = 0;
  /** bytes of the current packet's body still to pass, collect or skip */
  private remaining = 0;
  private head: Buffer[] = [];
  private headBytes = 0;

  constructor(private readonly opts: CapOptions) {}

  feed(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    while (i < chunk.length) {
      switch (this.state) {
        case 'fixed':
          this.first = chunk[i++]!;
          this.lengthBytes = [];
          this.length = 0;
          this.state = 'length';
          break;
        case 'length': {
          const b = chunk[i++]!;
          this.length += (b & 0x7f) * 128 ** this.lengthBytes.length;
          this.lengthBytes.push(b);
          if (b & 0x80) {
            // MQTT 3.1.1 §2.2.3: at most four bytes
            if (this.lengthBytes.length === 4) throw new Error('malformed MQTT packet: Remaining Length longer than 4 bytes');
            break;
          }
          this.remaining = this.length;
          if (this.length <= this.opts.maxRemaining) {
            out.push(Buffer.from([this.first, ...this.lengthBytes]));
            this.state = this.length === 0 ? 'fixed' : 'pass';
          } else if (this.first >> 4 === PUBLISH) {
            this.head = [];
            this.headBytes = 0;
            this.state = 'head';
          } else throw new Error(`MQTT packet of type ${this.first >> 4} with ${this.length} bytes exceeds the cap of ${this.opts.maxRemaining}`);
          break;
        }
        case 'pass': {
          const n = Math.min(this.remaining, chunk.length - i);
          out.push(chunk.subarray(i, i + n));
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'fixed';
          break;
        }
        case 'head': {
          const n = Math.min(this.remaining, chunk.length - i, this.opts.maxRemaining - this.headBytes);
          if (n === 0) throw new Error(`the variable header of a ${this.length}-byte PUBLISH exceeds the cap of ${this.opts.maxRemaining}`);
          this.head.push(Buffer.from(chunk.subarray(i, i + n)));
          this.headBytes += n;
          i += n;
          this.remaining -= n;
          const head = Buffer.concat(this.head);
          this.head = [head];
          const size = this.variableHeaderSize(head);
          if (size === undefined || size > head.length) break;
          out.push(Buffer.from([this.first, ...encodeLength(size)]), head.subarray(0, size));
          this.opts.oversized({ topic: head.subarray(2, 2 + head.readUInt16BE(0)).toString('utf8'), bytes: this.length });
          this.head = [];
          this.state = this.remaining === 0 ? 'fixed' : 'skip';
          break;
        }
        case 'skip': {
          const n = Math.min(this.remaining, chunk.length - i);
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = 'fixed';
          break;
        }
      }
    }
    return out;
  }

  /** Topic (+ packet id when QoS > 0) (+ properties in MQTT 5) of a PUBLISH; undefined until enough bytes are in. */
  private variableHeaderSize(head: Buffer): number | undefined {
    if (head.length < 2) return undefined;
    let size = 2 + head.readUInt16BE(0) + (((this.first >> 1) & 3) > 0 ? 2 : 0);
    if (this.opts.protocolVersion === 5) {
      let props = 0;
      for (let k = 0; ; k++) {
        if (k === 4) throw new Error('malformed MQTT 5 PUBLISH: property length longer than 4 bytes');
        const b = head[size + k];
        if (b === undefined) return undefined;
        props += (b & 0x7f) * 128 ** k;
        if (!(b & 0x80)) {
          size += k + 1 + props;
          break;
        }
      }
    }
    return size;
  }
}

/** MQTT's variable byte integer (the Remaining Length of a fixed header, §2.2.3) */
export function encodeLength(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/**
 * Wraps a connection (TCP, TLS or WebSocket stream) so that what is read from it goes through a PacketCap; writes,
 * end and destroy go straight to it. Errors and close of either side end both.
 */
export function capStream(inner: Duplex, opts: CapOptions): Duplex {
  const cap = new PacketCap(opts);
  // the dropped socket chunks are garbage V8 notices late (memory.ts): collect it as it accrues, or a dropped 32 MiB
  // message still costs ~25 MiB of resident memory
  const reclaim = reclaimEvery(512 << 10);
  const outer = new Duplex({
    allowHalfOpen: false,
    read() {
      inner.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      inner.write(chunk, cb);
    },
    // mqtt-packet corks the stream around each packet's pieces: pass them on as one write, or Nagle's algorithm
    // holds the second piece for the peer's delayed ACK (~40 ms per packet, measured)
    writev(chunks, cb) {
      inner.write(Buffer.concat(chunks.map((c) => c.chunk as Buffer)), cb);
    },
    final(cb) {
      if (inner.destroyed || inner.writableEnded) cb();
      else inner.end(cb);
    },
    destroy(err, cb) {
      inner.destroy();
      cb(err);
    },
  });
  inner.on('data', (chunk: Buffer) => {
    let parts: Buffer[];
    try {
      parts = cap.feed(chunk);
    } catch (e) {
      outer.destroy(e as Error);
      return;
    }
    let passed = 0;
    for (const p of parts) {
      passed += p.length;
      if (!outer.push(p)) inner.pause();
    }
    if (passed < chunk.length) reclaim(chunk.length - passed);
  });
  inner.once('end', () => outer.push(null));
  inner.once('error', (e) => outer.destroy(e));
  inner.once('close', () => outer.destroy());
  return outer;
}
