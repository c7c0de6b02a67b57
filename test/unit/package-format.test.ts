// The package format's pure parts: manifest validation (each bad field is named), the strict entry layout,
// payload offsets, and the ustar header encoder (checked against node-tar's own header decoder).
import { describe, expect, it } from 'vitest';
import { Header } from 'tar';
import {
  MAX_MANIFEST_BYTES,
  ManifestError,
  blockRound,
  checkPayloadEntrySize,
  classifyEntry,
  parseManifest,
  payloadOffset,
  serializeManifest,
  duplicateKey,
  ustarHeader,
  ustarHeaderProblem,
  type EntryFacts,
  type Manifest,
} from '../../protocol/package-format.js';

const SHA = 'ab'.repeat(32);
const GOOD = {
  format: 1,
  name: 'acme-rootfs',
  version: '3.0.0',
  deviceTypes: ['fota-sim', 'rpi4'],
  payload: { name: 'rootfs.img', size: 1000, sha256: SHA, compression: 'none' },
  created: '2024-05-01T10:00:00.000Z',
  keyId: '0123456789abcdef',
};

function withField(path: string, value: unknown): string {
  const doc = structuredClone(GOOD) as Record<string, unknown>;
  const keys = path.split('.');
  let obj = doc;
  for (const k of keys.slice(0, -1)) obj = obj[k] as Record<string, unknown>;
  const last = keys[keys.length - 1] as string;
  if (value === undefined) delete obj[last];
  else obj[last] = value;
  return JSON.stringify(doc);
}

function fieldOf(json: string): string {
  try {
    parseManifest(json);
  } catch (e) {
    expect(e).toBeInstanceOf(ManifestError);
    expect((e as Error).message).toContain(`"${(e as ManifestError).field}"`);
    return (e as ManifestError).field;
  }
  throw new Error('parsed although invalid');
}

describe('parseManifest', () => {
  it('accepts a complete manifest and round-trips through serializeManifest', () => {
    const m = parseManifest(JSON.stringify(GOOD));
    expect(m).toEqual(GOOD);
    expect(parseManifest(serializeManifest(m))).toEqual(m);
    expect(serializeManifest(m).endsWith('}\n')).toBe(true);
  });

  it('defaults compression to none and leaves optional fields out', () => {
    const m = parseManifest(withField('payload.compression', undefined).replace(/,?"created":"[^"]*"/, '').replace(/,?"keyId":"[^"]*"/, ''));
    expect(m.payload.compression).toBe('none');
    expect('created' in m || 'keyId' in m).toBe(false);
  });

  it.each([
    ['format', 2, 'format'],
    ['format', undefined, 'format'],
    ['format', '1', 'format'],
    ['name', undefined, 'name'],
    ['name', '../etc', 'name'],
    ['name', 'a'.repeat(129), 'name'],
    ['version', 'three point oh', 'version'],
    ['version', 3, 'version'],
    ['deviceTypes', [], 'deviceTypes'],
    ['deviceTypes', 'fota-sim', 'deviceTypes'],
    ['deviceTypes', ['fota-sim', 7], 'deviceTypes[1]'],
    ['deviceTypes', ['a', 'a'], 'deviceTypes'],
    ['payload', undefined, 'payload'],
    ['payload.name', '../../boot/vmlinuz', 'payload.name'],
    ['payload.name', 'dir/rootfs.img', 'payload.name'],
    ['payload.name', 'manifest.json', 'payload.name'],
    ['payload.name', 'manifest.sig', 'payload.name'],
    ['payload.size', 0, 'payload.size'],
    ['payload.size', -5, 'payload.size'],
    ['payload.size', 1.5, 'payload.size'],
    ['payload.size', '1000', 'payload.size'],
    ['payload.sha256', 'AB'.repeat(32), 'payload.sha256'],
    ['payload.sha256', 'ab', 'payload.sha256'],
    ['payload.compression', 'zstd', 'payload.compression'],
    ['payload.compression', 'gzip', 'payload.storedSize'],
    ['payload.storedSize', 999, 'payload.storedSize'],
    ['payload.extra', 1, 'payload.extra'],
    ['created', 'yesterday', 'created'],
    ['keyId', 'XYZ', 'keyId'],
    ['description', 'x'.repeat(1025), 'description'],
    ['surprise', true, 'surprise'],
  ])('refuses %s = %j, naming %s', (path, value, field) => {
    expect(fieldOf(withField(path, value))).toBe(field);
  });

  it('names the document when it is not a JSON object', () => {
    expect(fieldOf('not json')).toBe('(document)');
    expect(fieldOf('[1,2]')).toBe('(document)');
  });

  it('accepts gzip with storedSize', () => {
    const m = parseManifest(withField('payload', { name: 'rootfs.img.gz', size: 1000, sha256: SHA, compression: 'gzip', storedSize: 200 }));
    expect(m.payload.storedSize).toBe(200);
  });
});

describe('classifyEntry', () => {
  const m = parseManifest(JSON.stringify(GOOD)) as Manifest;
  const file = (name: string, size = 10, over: Partial<EntryFacts> = {}): EntryFacts => ({ name, type: 'File', size, extended: false, ...over });

  it('accepts manifest, signature, payload in order, and manifest then payload', () => {
    expect(classifyEntry([], file('manifest.json'), undefined)).toBe('manifest');
    expect(classifyEntry(['manifest'], file('manifest.sig', 64), m)).toBe('signature');
    expect(classifyEntry(['manifest', 'signature'], file('rootfs.img', 1000), m)).toBe('payload');
    expect(classifyEntry(['manifest'], file('rootfs.img', 1000), m)).toBe('payload');
  });

  it.each([
    ['a payload first', [], file('rootfs.img'), /first entry must be manifest\.json/],
    ['a traversal name first', [], file('../manifest.json'), /first entry must be manifest\.json/],
    ['a directory-prefixed manifest', [], file('pkg/manifest.json'), /first entry must be/],
    ['an empty manifest', [], file('manifest.json', 0), /1\.\.65536/],
    ['an oversized manifest', [], file('manifest.json', MAX_MANIFEST_BYTES + 1), /1\.\.65536/],
    ['a symlink', ['manifest'], file('rootfs.img', 0, { type: 'SymbolicLink' }), /SymbolicLink; only regular files/],
    ['a hard link', ['manifest'], file('rootfs.img', 0, { type: 'Link' }), /Link; only regular files/],
    ['a directory', [], file('manifest.json', 0, { type: 'Directory' }), /Directory/],
    ['a character device', ['manifest'], file('rootfs.img', 0, { type: 'CharacterDevice' }), /CharacterDevice/],
    ['an extended header', [], file('manifest.json', 10, { extended: true }), /PAX/],
    ['a short signature', ['manifest'], file('manifest.sig', 63), /64/],
    ['a second manifest', ['manifest'], file('manifest.json'), /unexpected here/],
    ['a second signature', ['manifest', 'signature'], file('manifest.sig', 64), /unexpected here; expected the payload/],
    ['an unknown name', ['manifest', 'signature'], file('evil.sh'), /unexpected here/],
    ['anything after the payload', ['manifest', 'payload'], file('rootfs.img', 1000), /follows the payload/],
  ] as const)('refuses %s', (_what, seen, entry, why) => {
    expect(() => classifyEntry(seen, entry, seen.length ? m : undefined)).toThrow(why);
  });

  it('checks the payload entry size against the manifest', () => {
    expect(() => checkPayloadEntrySize(m, 1000)).not.toThrow();
    expect(() => checkPayloadEntrySize(m, 999)).toThrow(/holds 999 bytes but the manifest says 1000/);
  });
});

describe('layout arithmetic', () => {
  it('computes the payload offset from the manifest length and the signature', () => {
    expect(blockRound(0)).toBe(0);
    expect(blockRound(1)).toBe(512);
    expect(blockRound(512)).toBe(512);
    expect(payloadOffset(300, false)).toBe(512 + 512 + 512);
    expect(payloadOffset(300, true)).toBe(512 + 512 + 512 + 512 + 512);
    expect(payloadOffset(513, true)).toBe(512 + 1024 + 1024 + 512);
  });
});

describe('ustarHeader', () => {
  it('encodes a header node-tar decodes with a valid checksum', () => {
    const h = new Header(Buffer.from(ustarHeader({ name: 'rootfs.img', size: 123456, mtime: 1_700_000_000 })));
    expect(h.cksumValid).toBe(true);
    expect(h.path).toBe('rootfs.img');
    expect(h.size).toBe(123456);
    expect(h.type).toBe('File');
    expect(h.mode).toBe(0o644);
    expect(h.mtime?.getTime()).toBe(1_700_000_000_000);
  });

  it('uses base-256 for sizes of 8 GiB and more', () => {
    const big = 8 * 1024 ** 3 + 12345;
    const h = new Header(Buffer.from(ustarHeader({ name: 'big.img', size: big })));
    expect(h.cksumValid).toBe(true);
    expect(h.size).toBe(big);
  });

  it('encodes other types for test archives and refuses names that do not fit', () => {
    const h = new Header(Buffer.from(ustarHeader({ name: 'link', size: 0, type: '2', linkname: '/etc/passwd' })));
    expect([h.type, h.linkpath]).toEqual(['SymbolicLink', '/etc/passwd']);
    expect(() => ustarHeader({ name: 'x'.repeat(101), size: 1 })).toThrow(/too long/);
    expect(() => ustarHeader({ name: 'x', size: -1 })).toThrow(/non-negative/);
  });
});

describe('duplicateKey', () => {
  it.each([
    ['{"a":1,"b":2}', undefined],
    ['{"a":1,"a":2}', 'a'],
    ['{"a":1,"\\u0061":2}', 'a'],
    ['{"p":{"x":1,"y":{"x":2}},"q":[{"x":1},{"x":2}]}', undefined],
    ['{"p":{"x":1,"y":2,"x":3}}', 'p.x'],
    ['{"q":[{"x":1,"x":2}]}', 'q[].x'],
    ['{"s":"\\"a\\":1,\\"a\\":2","a":["a","a"]}', undefined],
    ['{"a":{},"b":{},"a":0}', 'a'],
  ])('%s → %s', (json, path) => {
    expect(duplicateKey(json)?.path).toBe(path);
  });

  it('makes parseManifest refuse a manifest with a field twice (JSON.parse would keep the last)', () => {
    const twice = JSON.stringify(GOOD).replace('"version":"3.0.0"', '"version":"3.0.0","version":"0.1"');
    expect(JSON.parse(twice).version).toBe('0.1');
    expect(fieldOf(twice)).toBe('version');
  });
});

describe('ustarHeaderProblem', () => {
  const header = Buffer.from(ustarHeader({ name: 'rootfs.img', size: 1 }));
  const magic = (m: string) => Buffer.concat([header.subarray(0, 257), Buffer.from(m.padEnd(8, '\0'), 'latin1'), header.subarray(265)]);
  it('accepts POSIX ustar and names what else it sees', () => {
    expect(ustarHeaderProblem(header)).toBeUndefined();
    expect(ustarHeaderProblem(magic(''))).toMatch(/pre-POSIX \(v7\)/);
    expect(ustarHeaderProblem(magic('ustar  \0'))).toMatch(/GNU tar header/);
    expect(ustarHeaderProblem(magic('ustar\u000001'))).toMatch(/not "ustar" version "00"/);
  });
});
