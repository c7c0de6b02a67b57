// The hostile packages corpus, run through the agent's streaming reader into a real file-backed slot: hand-made
// hostile archives, then mutations generated from one good signed package (a cut at every block, a flipped byte in
// every header field and every manifest and signature byte, every tar entry type, bad manifest fields signed as they
// are, lying sizes and keys). Every case must be refused with a FotaError of its class, no refused image may ever be
// finished in the slot, and a case refused before the payload writes nothing. The count is docs/reliability.md's.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPackage, type InstallOptions } from '../../agent/adapters/package-install.js';
import { FotaError, type ErrorCode } from '../../agent/core/errors.js';
import { serializeManifest, TAR_BLOCK, type Manifest } from '../../protocol/package-format.js';
import { FileSlot } from '../helpers/file-slot.js';
import { buildPackage, chunks, manifestOf, tarEntry, withHeaderField, withMagic } from '../helpers/package-builder.js';
import { documentedCount } from '../helpers/reliability-doc.js';

const KEY = generateKeyPairSync('ed25519');
const OTHER = generateKeyPairSync('ed25519');
const IMAGE = randomBytes(5000);
const GOOD = buildPackage({ image: IMAGE, key: KEY.privateKey });
const SLOT_BYTES = 64 * 1024;

interface Case {
  category: string;
  name: string;
  bytes: Buffer;
  /** the refusal codes this case may end with */
  codes: readonly ErrorCode[];
  why?: RegExp;
  /** refused before any payload byte may reach the slot */
  beforePayload: boolean;
  opts?: Partial<InstallOptions>;
}

const cases: Case[] = [];
const add = (c: Case) => cases.push(c);
const BAD_LAYOUT = ['unsupported-package'] as const;
const BROKEN = ['unsupported-package', 'integrity-mismatch'] as const;

// ---- hand-made hostile archives (a layout only a hostile or broken tool writes) ----
{
  const text = GOOD.manifestText;
  const { manifest: M, signature, payload: P, end: END } = GOOD.parts;
  const S = signature as Buffer;
  const pax = (record: string, type = 'x'): Buffer => {
    const body = ` ${record}\n`;
    let n = body.length;
    while (`${n}${body}`.length !== n) n = `${n}${body}`.length;
    return tarEntry({ name: 'PaxHeader', size: n, type }, Buffer.from(`${n}${body}`));
  };
  const paddingAt = (entry: Buffer, at: number) => Buffer.concat([entry.subarray(0, at), Buffer.from('X'), entry.subarray(at + 1)]);
  const hand: [string, Buffer[], RegExp][] = [
    ['a symlink as the payload', [M, S, tarEntry({ name: 'rootfs.img', size: 0, type: '2', linkname: '/dev/mmcblk0' }, Buffer.alloc(0)), END], /SymbolicLink/],
    ['a hard link as the payload', [M, S, tarEntry({ name: 'rootfs.img', size: 0, type: '1', linkname: 'manifest.json' }, Buffer.alloc(0)), END], /Link/],
    ['a path traversal name', [tarEntry({ name: '../manifest.json', size: Buffer.byteLength(text) }, Buffer.from(text)), S, P, END], /first entry must be manifest\.json/],
    ['an absolute name', [tarEntry({ name: '/manifest.json', size: Buffer.byteLength(text) }, Buffer.from(text)), S, P, END], /first entry must be manifest\.json/],
    ['a name in the ustar prefix field', [withHeaderField(M, 345, 'etc', 155), S, P, END], /"etc\/manifest\.json" comes first/],
    ['a directory entry', [tarEntry({ name: 'manifest.json', size: 0, type: '5' }, Buffer.alloc(0)), END], /Directory/],
    ['a directory by trailing slash (v7 style)', [tarEntry({ name: 'manifest.json/', size: 0 }, Buffer.alloc(0)), END], /Directory/],
    ['a device entry', [M, S, tarEntry({ name: 'rootfs.img', size: 0, type: '4' }, Buffer.alloc(0)), END], /BlockDevice/],
    ['an extra entry after the payload', [M, S, P, tarEntry({ name: 'evil.sh', size: 3 }, Buffer.from('hi\n')), END], /data follows the payload/],
    ['a PAX extended header', [pax('path=manifest.json'), M, S, P, END], /PAX/],
    ['a PAX global header', [pax('comment=hello', 'g'), M, S, P, END], /PAX/],
    ['a PAX header overriding the payload size', [M, S, pax('size=10'), P, END], /PAX/],
    ['a GNU long name', [tarEntry({ name: '././@LongLink', size: 14, type: 'L' }, Buffer.from('manifest.json\0')), M, END], /PAX\/GNU/],
    ['an unknown entry type', [M, tarEntry({ name: 'x', size: 0, type: 'V' }, Buffer.alloc(0)), END], /not allowed/],
    ['the signature after the payload', [M, P, S, END], /is not signed \(no manifest\.sig\)/],
    ['the payload before the manifest', [P, M, S, END], /first entry must be manifest\.json/],
    ['a duplicate manifest', [M, M, S, P, END], /unexpected here/],
    ['a duplicate signature', [M, S, S, P, END], /unexpected here/],
    ['a bad header checksum', [M, Buffer.concat([S.subarray(0, 148), Buffer.from('0000000\0'), S.subarray(156)]), P, END], /checksum|malformed/],
    ['a whole-archive gzip', [gzipSync(GOOD.pkg)], /compressed as a whole/],
    ['a whole-archive zstd magic', [Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), GOOD.pkg])], /compressed as a whole/],
    ['garbage after the end blocks', [M, S, P, END, Buffer.from('trailing garbage')], /data follows the payload/],
    ['more than 1 MiB of zeros after the payload', [M, S, P, Buffer.alloc(1024 * 1024 + 2048)], /more than 1048576 bytes follow the payload/],
    ['no end-of-archive blocks', [M, S, P], /without the end-of-archive blocks/],
    ['not a tar at all', [Buffer.from('<html>not found</html>'.padEnd(2000, ' '))], /malformed tar archive.*checksum/],
    ['a short non-tar answer', [Buffer.from('<html>not found</html>')], /truncated after 22 bytes, before its payload/],
    ['an empty body', [], /truncated after 0 bytes/],
    ['a pre-POSIX (v7) manifest header', [withMagic(M, ''), S, P, END], /"manifest\.json" has a pre-POSIX \(v7\) tar header/],
    ['a GNU-format manifest header', [withMagic(M, 'ustar  \0'), S, P, END], /GNU tar header/],
    ['a v7 signature header', [M, withMagic(S, ''), P, END], /"manifest\.sig" has a pre-POSIX/],
    ['a v7 payload header', [M, S, withMagic(P, ''), END], /"rootfs\.img" has a pre-POSIX/],
    ['a header with another magic', [withMagic(M, 'ustar\u000001'), S, P, END], /magic is not "ustar" version "00"/],
    ['data hidden in the manifest\'s padding', [paddingAt(M, TAR_BLOCK + Buffer.byteLength(text) + 3), S, P, END], /in the padding after an entry's data, is not zero/],
    ['data hidden in the signature\'s padding', [M, paddingAt(S, TAR_BLOCK + 64 + 100), P, END], /padding .* is not zero/],
    ['data hidden in the payload\'s padding', [M, S, paddingAt(P, TAR_BLOCK + IMAGE.length + 7), END], /padding .* is not zero/],
  ];
  const trailing = /after the end|1 MiB|end-of-archive|extra entry/;
  for (const [name, parts, why] of hand) {
    add({ category: 'hand-made archive', name, bytes: Buffer.concat(parts), codes: ['unsupported-package', 'integrity-mismatch', 'unsigned-package'], why, beforePayload: !/payload's padding/.test(name) && !trailing.test(name) });
  }
}

// ---- a cut at every block boundary, and inside blocks ----
for (let cut = 0; cut < GOOD.pkg.length; cut += cut % TAR_BLOCK === 0 ? 1 : TAR_BLOCK - 1) {
  const mid = cut % TAR_BLOCK !== 0;
  const at = mid ? cut + 200 : cut; // 0, 201, 512, 713, 1024, …
  if (at >= GOOD.pkg.length) break;
  add({ category: 'truncation', name: `cut at byte ${at}`, bytes: GOOD.pkg.subarray(0, at), codes: BROKEN, why: /truncated|end-of-archive/, beforePayload: at <= GOOD.offset });
}

// ---- one flipped byte: every header field, every manifest and signature byte, payload and trailer samples ----
{
  const headers = [0, TAR_BLOCK + Math.ceil(GOOD.manifestText.length / TAR_BLOCK) * TAR_BLOCK, GOOD.offset - TAR_BLOCK];
  const FIELDS: [string, number][] = [['name', 0], ['name end', 99], ['mode', 100], ['uid', 108], ['gid', 116], ['size', 124], ['size last digit', 134], ['mtime', 136], ['checksum', 148], ['typeflag', 156], ['linkname', 157], ['magic', 257], ['version', 263], ['uname', 265], ['gname', 297], ['devmajor', 329], ['devminor', 337], ['prefix', 345], ['header padding', 511]];
  const flip = (at: number) => {
    const b = Buffer.from(GOOD.pkg);
    b[at] = (b[at] as number) ^ 0x41;
    return b;
  };
  for (const [i, h] of headers.entries()) {
    for (const [field, off] of FIELDS) add({ category: 'flipped byte', name: `header ${i + 1} ${field}`, bytes: flip(h + off), codes: BAD_LAYOUT, beforePayload: true });
  }
  const manifestAt = TAR_BLOCK;
  for (let j = 0; j < GOOD.manifestText.length; j++) {
    add({ category: 'flipped byte', name: `manifest byte ${j}`, bytes: flip(manifestAt + j), codes: ['unsupported-package', 'signature-invalid', 'untrusted-key'], beforePayload: true });
  }
  const sigAt = headers[1]! + TAR_BLOCK;
  for (let j = 0; j < 64; j++) add({ category: 'flipped byte', name: `signature byte ${j}`, bytes: flip(sigAt + j), codes: ['signature-invalid'], beforePayload: true });
  for (let j = 0; j < 16; j++) add({ category: 'flipped byte', name: `payload byte ${j * 311}`, bytes: flip(GOOD.offset + j * 311), codes: ['integrity-mismatch'], beforePayload: false });
  for (let j = 0; j < 8; j++) add({ category: 'flipped byte', name: `end-of-archive byte ${j * 127}`, bytes: flip(GOOD.pkg.length - 1024 + j * 127), codes: BAD_LAYOUT, beforePayload: false });
}

// ---- every tar entry type in place of each entry (checksums valid) ----
{
  const { manifest: M, signature, payload: P } = GOOD.parts;
  const entries: [string, Buffer, number][] = [['manifest', M, 0], ['signature', signature as Buffer, M.length], ['payload', P, GOOD.offset - TAR_BLOCK]];
  for (const [what, entry, at] of entries) {
    for (const type of ['1', '2', '3', '4', '5', '6', '7', 'g', 'x', 'L', 'K', 'S', 'V', 'M', 'D', 'N', 'A', 'Z']) {
      const bytes = Buffer.concat([GOOD.pkg.subarray(0, at), withHeaderField(entry, 156, type, 1), GOOD.pkg.subarray(at + entry.length)]);
      add({ category: 'entry type', name: `${what} as type ${type}`, bytes, codes: BROKEN, beforePayload: true });
    }
  }
}

// ---- bad manifest fields, signed as they are (a hostile signer, or a broken build) ----
{
  const good = manifestOf(IMAGE, KEY.publicKey) as unknown as Record<string, unknown>;
  const set = (path: string, value: unknown): string => {
    const doc = structuredClone(good);
    const keys = path.split('.');
    let obj = doc;
    for (const k of keys.slice(0, -1)) obj = obj[k] as Record<string, unknown>;
    if (value === undefined) delete obj[keys.at(-1)!];
    else obj[keys.at(-1)!] = value;
    return JSON.stringify(doc, null, 2);
  };
  const FIELDS: [string, unknown[]][] = [
    ['format', [0, 2, '1', null, undefined]],
    ['name', ['', '../x', 'a b', 'x'.repeat(129), 5, undefined]],
    ['version', ['', '1 0', 'v'.repeat(65), 3, undefined]],
    ['deviceTypes', [[], 'fota-sim', [1], ['fota sim'], Array.from({ length: 65 }, (_, i) => `t${i}`), ['fota-sim', 'fota-sim'], undefined]],
    ['payload', [undefined, 'rootfs.img', []]],
    ['payload.name', ['manifest.json', 'manifest.sig', '../rootfs.img', 'dir/rootfs.img', '', 'r'.repeat(101)]],
    ['payload.size', [0, -1, 1.5, '5000', 2 ** 53, undefined]],
    ['payload.sha256', ['AB'.repeat(32), 'a'.repeat(63), undefined]],
    ['payload.compression', ['zstd', 'xz', null]],
    ['payload.storedSize', [1]],
    ['created', ['yesterday', 5]],
    ['keyId', ['XYZ', 'a'.repeat(17)]],
    ['description', ['d'.repeat(1025), 5]],
    ['securityFloor', ['3.0.1', 'latest', 5]],
    ['extra', [1]],
    ['payload.extra', [true]],
  ];
  const variants: [string, string][] = [];
  for (const [field, values] of FIELDS) for (const v of values) variants.push([`${field} = ${v === undefined ? '(missing)' : JSON.stringify(v).slice(0, 30)}`, set(field, v)]);
  const text = serializeManifest(good as unknown as Manifest);
  variants.push(
    ['gzip without storedSize', set('payload.compression', 'gzip')],
    ['__proto__ key', text.replace('{', '{\n  "__proto__": {"polluted": 1},')],
    ['a key named twice', text.replace('"version": "3.0.0",', '"version": "3.0.0",\n  "version": "9.9.9",')],
    ['a key named twice, escaped', text.replace('"version": "3.0.0",', '"version": "3.0.0",\n  "v\\u0065rsion": "9.9.9",')],
    ['a payload key named twice', text.replace('"compression": "none"', '"compression": "none", "size": 1')],
    ['not JSON', text.slice(0, -3)],
    ['a JSON array', '[1, 2, 3]\n'],
    ['a byte-order mark', `\ufeff${text}`],
    ['a NUL in a string', text.replace('acme-rootfs', 'acme\\u0000rootfs')],
    ['64 KiB + 1', text.replace('"format": 1,', `"format": 1, "description": "${'d'.repeat(65 * 1024)}",`)],
  );
  for (const [name, manifestText] of variants) {
    add({ category: 'manifest field', name, bytes: buildPackage({ image: IMAGE, key: KEY.privateKey, manifestText }).pkg, codes: BAD_LAYOUT, beforePayload: true });
  }
  // not UTF-8
  const bad = Buffer.from(text);
  bad[bad.indexOf('acme')] = 0xff;
  add({ category: 'manifest field', name: 'invalid UTF-8', bytes: buildPackage({ image: IMAGE, key: KEY.privateKey, manifestText: bad.toString('latin1') }).pkg, codes: BAD_LAYOUT, beforePayload: true });
}

// ---- lying sizes, hashes and keys ----
{
  const pkg = (b: Partial<Parameters<typeof buildPackage>[0]>) => buildPackage({ image: IMAGE, key: KEY.privateKey, ...b }).pkg;
  const m = (over: Partial<Manifest> = {}, payload: Partial<Manifest['payload']> = {}) => manifestOf(IMAGE, KEY.publicKey, over, payload);
  const bomb = gzipSync(Buffer.alloc(4 * 1024 * 1024));
  const lies: [string, Buffer, readonly ErrorCode[], boolean, Partial<InstallOptions>?][] = [
    ['payload entry shorter than the manifest says', pkg({ stored: IMAGE.subarray(0, 4000) }), BAD_LAYOUT, true],
    ['payload entry longer than the manifest says', pkg({ stored: Buffer.concat([IMAGE, Buffer.alloc(10)]) }), BAD_LAYOUT, true],
    ['a wrong SHA-256', pkg({ manifest: m({}, { sha256: 'ab'.repeat(32) }) }), ['integrity-mismatch'], false],
    ['a size larger than the slot', pkg({ manifest: m({}, { size: SLOT_BYTES + 1 }), stored: IMAGE }), ['no-space', 'unsupported-package'], true],
    ['another device type', pkg({ manifest: m({ deviceTypes: ['other-board'] }) }), ['incompatible-device'], true],
    ['signed by an untrusted key', buildPackage({ image: IMAGE, key: OTHER.privateKey }).pkg, ['untrusted-key'], true],
    ['signed by an untrusted key claiming the trusted keyId', pkg({ key: OTHER.privateKey, manifest: m() }), ['signature-invalid'], true],
    ['unsigned', buildPackage({ image: IMAGE, key: null }).pkg, ['unsigned-package'], true],
    ['a 63-byte signature', Buffer.concat([GOOD.parts.manifest, tarEntry({ name: 'manifest.sig', size: 63 }, Buffer.alloc(63, 1)), GOOD.parts.payload, GOOD.parts.end]), BAD_LAYOUT, true],
    ['a 65-byte signature', Buffer.concat([GOOD.parts.manifest, tarEntry({ name: 'manifest.sig', size: 65 }, Buffer.alloc(65, 1)), GOOD.parts.payload, GOOD.parts.end]), BAD_LAYOUT, true],
    ['a signature of other bytes', Buffer.concat([GOOD.parts.manifest, buildPackage({ image: IMAGE.subarray(1), key: KEY.privateKey }).parts.signature as Buffer, GOOD.parts.payload, GOOD.parts.end]), ['signature-invalid'], true],
    ['a gzip bomb', pkg({ manifest: m({}, { name: 'rootfs.img.gz', compression: 'gzip', size: 5000, storedSize: bomb.length }), stored: bomb }), ['integrity-mismatch'], false],
    ['a gzip payload that is not gzip', pkg({ manifest: m({}, { name: 'rootfs.img.gz', compression: 'gzip', storedSize: IMAGE.length }), stored: IMAGE }), ['integrity-mismatch'], false],
    ['a truncated gzip stream', pkg({ manifest: m({}, { name: 'rootfs.img.gz', compression: 'gzip', storedSize: 40 }), stored: gzipSync(IMAGE).subarray(0, 40) }), ['integrity-mismatch'], false],
    ['a downgrade', pkg({ manifest: m({ version: '1.0.0' }) }), ['downgrade-refused'], true, { policy: { installed: '2.0.0', floor: '', allowDowngrade: false } }],
    ['below the security floor, downgrade allowed', pkg({ manifest: m({ version: '1.0.0' }) }), ['downgrade-refused'], true, { policy: { installed: '2.0.0', floor: '1.5.0', allowDowngrade: true } }],
    ['a version that cannot be ordered, above a floor', pkg({ manifest: m({ version: 'latest' }) }), ['downgrade-refused'], true, { policy: { installed: '', floor: '1.0.0', allowDowngrade: true } }],
    ['signed by a retired key', GOOD.pkg, ['untrusted-key'], true, { trustedKeys: [OTHER.publicKey], retiredKeyIds: [manifestOf(IMAGE, KEY.publicKey).keyId as string] }],
  ];
  for (const [name, bytes, codes, beforePayload, opts] of lies) add({ category: 'lie', name, bytes, codes, beforePayload, ...(opts ? { opts } : {}) });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fota-hostile-pkg-'));
  await FileSlot.create(join(dir, 'slot.img'), SLOT_BYTES);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the hostile packages corpus', () => {
  it('the good package it is made from installs (so every refusal below is the mutation\'s doing)', async () => {
    const slot = new FileSlot(join(dir, 'slot.img'), SLOT_BYTES);
    await installPackage(chunks(GOOD.pkg), { deviceType: 'fota-sim', trustedKeys: [KEY.publicKey], allowUnsigned: false, slot });
    expect(slot.finished).toBe(1);
  });

  for (const category of [...new Set(cases.map((c) => c.category))]) {
    const mine = cases.filter((c) => c.category === category);
    it(`${category}: ${mine.length} cases, each refused with its code, none ever finished in the slot`, async () => {
      for (const c of mine) {
        const slot = new FileSlot(join(dir, 'slot.img'), SLOT_BYTES);
        const opts: InstallOptions = { deviceType: 'fota-sim', trustedKeys: [KEY.publicKey], allowUnsigned: false, slot, ...c.opts };
        const error = await installPackage(chunks(c.bytes), opts).then(
          () => undefined,
          (e: unknown) => e,
        );
        const where = `${category}: ${c.name}`;
        expect(error, where).toBeInstanceOf(FotaError);
        expect(c.codes, `${where}: ${(error as Error).message}`).toContain((error as FotaError).code);
        if (c.why) expect((error as Error).message, where).toMatch(c.why);
        expect((error as Error).message.length, where).toBeGreaterThan(20);
        expect(slot.finished, `${where}: a refused package was finished in the slot`).toBe(0);
        if (c.beforePayload) expect(slot.bytesWritten, `${where}: bytes reached the slot`).toBe(0);
      }
    });
  }

  it('docs/reliability.md states how many hostile packages the tests run', () => {
    expect(cases.length).toBeGreaterThan(62); // the corpus had 62
    expect(documentedCount('Hostile packages')).toBe(cases.length);
  });
});
