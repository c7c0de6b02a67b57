// Generators of hostile MQTT request payloads for the fuzz test, deterministic from a seed (a failure can be replayed).
// Each class is a row of docs/reliability.md. Nothing here asks a device to reboot, reset, restart or download:
// those are covered by the retained/replay tests; here the agent must refuse or answer, never act destructively.

export type Rand = () => number;

/** mulberry32: a tiny seeded PRNG */
export function seeded(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

export interface Hostile {
  payload: Buffer | string;
  retain?: boolean;
}

export type HostileClass = 'random-bytes' | 'wrong-shapes' | 'huge-strings' | 'deep-nesting' | 'unknown-ops-and-paths' | 'valid-harmless' | 'retained';

const ANY: unknown[] = [null, true, false, 0, -1, 1e308, -0, '', ' ', '\u0000', '\ud800', [], {}, [[]], { a: 1 }, 'x'.repeat(300), NaN, 'constructor', '__proto__'];
const PATHS = ['/3/0/0', '/3/0/13', '/3/0/14', '/3/0/15', '/3/0/21', '/3/0', '/3', '/5/0/0', '/5/0/3', '/5/0/8', '/5/0', '/26241/0/100', '/26241/0/101', '/9/0/1', '/3/1/0', '/65535/65535/65535', '/0/0/0'];

function wrongShape(r: Rand, n: number): unknown {
  switch (n % 8) {
    case 0:
      return pick(r, ANY);
    case 1:
      return [{ id: 'a', op: 'read', path: '/3/0' }];
    case 2:
      return { id: pick(r, ANY), op: 'read', path: '/3/0' };
    case 3:
      return { id: `w${n}`, op: pick(r, ANY), path: '/3/0' };
    case 4:
      return { id: `w${n}`, op: 'read', path: pick(r, ANY) };
    case 5:
      return { id: `w${n}`, op: 'write', path: pick(r, PATHS) }; // no value
    case 6:
      return { id: `w${n}`, op: 'execute', path: '/5/0/2', args: pick(r, ANY) };
    default:
      return { id: `w${n}`, op: 'cancel-observe', path: '/5/0', token: pick(r, ANY), extra: pick(r, ANY) };
  }
}

/** `count` payloads of one class */
export function hostile(kind: HostileClass, count: number, r: Rand): Hostile[] {
  const out: Hostile[] = [];
  for (let n = 0; n < count; n++) {
    switch (kind) {
      case 'random-bytes': {
        const b = Buffer.alloc(int(r, 1, 2048));
        for (let i = 0; i < b.length; i++) b[i] = int(r, 0, 255);
        // some start like JSON, so the parser gets further
        if (n % 3 === 0) b.write('{"id":"', 0);
        out.push({ payload: b });
        break;
      }
      case 'wrong-shapes':
        out.push({ payload: JSON.stringify(wrongShape(r, n)) ?? 'undefined' });
        break;
      case 'huge-strings': {
        // under the 64 KiB message limit, at it, and (1 in 10) over it
        const size = n % 10 === 0 ? int(r, 65 * 1024, 200 * 1024) : int(r, 1024, 63 * 1024);
        const field = pick(r, ['id', 'path', 'value', 'args', 'token', 'op']);
        const msg: Record<string, unknown> = { id: `h${n}`, op: field === 'args' ? 'execute' : field === 'token' ? 'cancel-observe' : 'write', path: field === 'args' ? '/5/0/10' : '/3/0/15' };
        msg[field] = 'é'.repeat(Math.floor(size / 2));
        out.push({ payload: JSON.stringify(msg) });
        break;
      }
      case 'deep-nesting': {
        const depth = pick(r, [9, 10, 100, 1000, 30_000]);
        const inner = `${'['.repeat(depth)}${']'.repeat(depth)}`;
        const obj = `${'{"a":'.repeat(Math.min(depth, 10_000))}1${'}'.repeat(Math.min(depth, 10_000))}`;
        out.push({ payload: `{"id":"d${n}","op":"write","path":"/3/0/15","value":${n % 2 ? inner : obj}}` });
        break;
      }
      case 'unknown-ops-and-paths':
        out.push({
          payload: JSON.stringify(
            pick(r, [
              { id: `u${n}`, op: pick(r, ['delete', 'create', 'discover', 'bootstrap', 'READ', 'read ', 'exec']), path: pick(r, PATHS) },
              { id: `u${n}`, op: 'read', path: pick(r, ['3/0', '/3/0/', '//3', '/-1', '/3/0/1/2/3', '/99999999999', '/3/x', '/../3', '/3/0/0?x', '/%33']) },
              { id: `u${n}`, op: 'write', path: '/3/0/15', value: 'Europe/Berlin', __proto__: { op: 'execute' } },
              JSON.parse(`{"id":"u${n}","op":"read","path":"/3/0","__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}`),
            ]),
          ),
        });
        break;
      case 'valid-harmless': {
        const id = `v${n}`;
        out.push({
          payload: JSON.stringify(
            pick(r, [
              { id, op: 'read', path: pick(r, PATHS) },
              { id, op: 'observe', path: pick(r, PATHS) },
              { id, op: 'cancel-observe', path: pick(r, PATHS) },
              { id, op: 'write', path: '/3/0/15', value: pick(r, ['Europe/Berlin', 'Mars/Olympus', '', 'UTC']) },
              { id, op: 'write', path: '/3/0/14', value: pick(r, ['+01:00', '+99:00', 'Z', '']) },
              { id, op: 'write', path: '/3/0/13', value: int(r, 0, 2 ** 31) },
              { id, op: 'write', path: '/5/0/3', value: 1 },
              { id, op: 'write', path: '/5/0/1', value: '' },
              { id, op: 'execute', path: '/5/0/2' },
              { id, op: 'execute', path: '/5/0/10' },
              { id, op: 'execute', path: '/3/0/14' },
              { id, op: 'write', path: '/26241/0/100', value: 5 },
            ]),
          ),
        });
        break;
      }
      case 'retained':
        // delivered to the live agent without the retain flag (MQTT 3.1.1 §3.3.1.3): harmless or malformed ones only
        out.push({ retain: true, payload: n % 2 ? JSON.stringify(wrongShape(r, n)) ?? 'null' : JSON.stringify({ id: `r${n}`, op: 'read', path: pick(r, PATHS) }) });
        break;
    }
  }
  return out;
}
