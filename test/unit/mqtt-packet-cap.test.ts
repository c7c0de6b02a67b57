// The incoming MQTT packet cap, byte by byte: packets under the cap pass unchanged however the network splits them;
// an oversized PUBLISH reaches mqtt-packet's own parser without its payload (topic, packet id, flags and MQTT 5
// properties intact); anything else oversized or malformed is refused.
import mqttPacket, { type IPacket, type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { PacketCap } from '../../agent/adapters/mqtt-packet-cap.js';

const CAP = 1000;

function run(bytes: Buffer, protocolVersion: 4 | 5, split: number[]) {
  const dropped: { topic: string; bytes: number }[] = [];
  const cap = new PacketCap({ maxRemaining: CAP, protocolVersion, oversized: (i) => dropped.push(i) });
  const out: Buffer[] = [];
  let at = 0;
  for (const n of split) {
    out.push(...cap.feed(bytes.subarray(at, at + n)));
    at += n;
  }
  out.push(...cap.feed(bytes.subarray(at)));
  return { out: Buffer.concat(out), dropped };
}

function parse(bytes: Buffer, protocolVersion: 4 | 5): Packet[] {
  const parser = mqttPacket.parser({ protocolVersion });
  const packets: Packet[] = [];
  parser.on('packet', (p) => packets.push(p));
  parser.on('error', (e) => {
    throw e;
  });
  parser.parse(bytes);
  return packets;
}

const gen = (p: IPacket & Record<string, unknown>, protocolVersion: 4 | 5) => mqttPacket.generate(p as Packet, { protocolVersion });

/** deterministic chunk sizes: 1-byte pieces, then awkward sizes */
function splits(total: number, seed: number): number[] {
  const out: number[] = [];
  let x = seed;
  for (let at = 0; at < total; ) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const n = 1 + (x % 700);
    out.push(n);
    at += n;
  }
  return out;
}

describe('incoming packet cap', () => {
  for (const v of [4, 5] as const) {
    it(`MQTT ${v}: packets under the cap pass byte for byte, however the stream is split`, () => {
      const stream = Buffer.concat([
        gen({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false }, v),
        gen({ cmd: 'publish', topic: 'lwm2m/dm/a/req', payload: Buffer.alloc(CAP - 40, 1), qos: 1, messageId: 7, retain: false, dup: false }, v),
        gen({ cmd: 'pingresp' }, v),
        gen({ cmd: 'suback', messageId: 1, granted: [1] }, v),
      ]);
      for (const seed of [1, 2, 3]) expect(run(stream, v, splits(stream.length, seed)).out.equals(stream)).toBe(true);
      expect(run(stream, v, Array(stream.length).fill(1)).out.equals(stream)).toBe(true);
    });

    it(`MQTT ${v}: an oversized PUBLISH arrives without its payload; the packets around it are intact`, () => {
      const big = gen(
        { cmd: 'publish', topic: 'lwm2m/dm/a/req', payload: Buffer.alloc(50_000, 0x7b), qos: 1, messageId: 42, retain: true, dup: false, ...(v === 5 ? { properties: { userProperties: { a: 'b' }, contentType: 'json' } } : {}) },
        v,
      );
      const stream = Buffer.concat([gen({ cmd: 'pingresp' }, v), big, gen({ cmd: 'publish', topic: 't', payload: Buffer.from('ok'), qos: 0, retain: false, dup: false }, v)]);
      for (const seed of [4, 5]) {
        const { out, dropped } = run(stream, v, splits(stream.length, seed));
        expect(out.length).toBeLessThan(200);
        expect(dropped).toEqual([{ topic: 'lwm2m/dm/a/req', bytes: big.length - 4 }]);
        const packets = parse(out, v);
        expect(packets.map((p) => p.cmd)).toEqual(['pingresp', 'publish', 'publish']);
        expect(packets[1]).toMatchObject({ topic: 'lwm2m/dm/a/req', messageId: 42, qos: 1, retain: true });
        expect((packets[1] as { payload: Buffer }).payload.length).toBe(0);
        if (v === 5) expect(packets[1]).toMatchObject({ properties: { contentType: 'json' } });
        expect((packets[2] as { payload: Buffer }).payload.toString()).toBe('ok');
      }
    });
  }

  it('refuses an oversized packet that is not a PUBLISH, and a malformed Remaining Length', () => {
    const sub = gen({ cmd: 'suback', messageId: 1, granted: Array(2000).fill(1) }, 4);
    expect(() => run(sub, 4, [])).toThrow(/type 9 .* exceeds the cap/);
    expect(() => run(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 4, [])).toThrow(/longer than 4 bytes/);
  });

  it('refuses an oversized PUBLISH whose topic alone is over the cap (nothing to pass on)', () => {
    const big = gen({ cmd: 'publish', topic: 'x'.repeat(5000), payload: Buffer.alloc(10), qos: 0, retain: false, dup: false }, 4);
    expect(() => run(big, 4, [])).toThrow(/variable header .* exceeds the cap/);
  });
});
