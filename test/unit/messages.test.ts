// The wire contract's request validator on hostile input: size and nesting are refused before JSON.parse builds
// anything; what parses must have exactly the fields its op needs.
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, MAX_MESSAGE_BYTES, parseRequest } from '../../protocol/messages.js';

describe('parseRequest on hostile input', () => {
  it('refuses nesting deeper than the limit before parsing, whatever hides in strings', () => {
    const deep = (n: number) => `{"id":"d","op":"write","path":"/3/0/15","value":${'['.repeat(n)}${']'.repeat(n)}}`;
    expect(parseRequest(deep(MAX_JSON_DEPTH - 1))).toMatchObject({ ok: false, reason: '"write" needs a JSON "value"' }); // parsed, then too deep for a value
    expect(parseRequest(deep(MAX_JSON_DEPTH))).toEqual({ ok: false, reason: `message nests deeper than ${MAX_JSON_DEPTH} levels` });
    expect(parseRequest(Buffer.from(deep(30_000)))).toEqual({ ok: false, reason: `message nests deeper than ${MAX_JSON_DEPTH} levels` });
    // brackets inside strings, escaped quotes included, do not count
    const inString = JSON.stringify({ id: 'x', op: 'write', path: '/3/0/15', value: `\\"${'['.repeat(100)}` });
    expect(parseRequest(inString)).toMatchObject({ ok: true, value: { id: 'x' } });
  });

  it('refuses oversized messages by size alone', () => {
    expect(parseRequest(Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x20))).toEqual({ ok: false, reason: `message of ${MAX_MESSAGE_BYTES + 1} bytes exceeds ${MAX_MESSAGE_BYTES}` });
  });

  it('prototype keys are plain unknown fields, never merged', () => {
    const r = parseRequest('{"id":"p","op":"read","path":"/3/0","__proto__":{"op":"execute"}}');
    expect(r).toEqual({ ok: false, reason: 'unknown field(s): __proto__', id: 'p' });
    expect(({} as Record<string, unknown>).op).toBeUndefined();
  });
});
