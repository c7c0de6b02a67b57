// The agent's streaming package reader against a real file-backed slot: good packages (signed, gzip, unsigned when
// allowed), every refusal (keys, tampering, device type, size, truncation), resume after an interruption, abort, and
// peak memory while streaming 256 MiB. Hostile archives: the corpus in hostile-packages.test.ts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { FotaError, type ErrorCode } from '../../agent/core/errors.js';
import type { ResumeToken } from '../../agent/core/ports.js';
import { installPackage, keyIdOf, resumePackage, type InstallOptions, type ResumePoint, type SlotAccess } from '../../agent/adapters/package-install.js';
import { serializeManifest, ustarHeader, type Manifest } from '../../protocol/package-format.js';
import { pack } from '../../cli/package/package-tools.js';
import { openSlotWriter, readSlot } from '../../platform/slots/slot-writer.js';
import { FileSlot } from '../helpers/file-slot.js';
import * as built from '../helpers/package-builder.js';
import { chunks, tarEntry } from '../helpers/package-builder.js';

const KEY = generateKeyPairSync('ed25519');
const OTHER = generateKeyPairSync('ed25519');
const IMAGE = randomBytes(300_000 + 123);

const manifestOf = (image: Buffer, over: Partial<Manifest> = {}, payload: Partial<Manifest['payload']> = {}): Manifest => built.manifestOf(image, KEY.publicKey, over, payload);

/** A package laid out like `fota pack` makes it, signed with KEY unless `key` says otherwise; every part replaceable. */
function build(b: Partial<built.Build> = {}): built.Built {
  const image = b.image ?? IMAGE;
  return built.buildPackage({ image, key: KEY.privateKey, manifest: manifestOf(image), ...b });
}

let dir: string;
let slot: FileSlot;
const opts = (over: Partial<InstallOptions> = {}): InstallOptions => ({ deviceType: 'fota-sim', trustedKeys: [KEY.publicKey], allowUnsigned: false, slot, ...over });

async function refusal(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<FotaError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FotaError);
  expect((e as FotaError).code).toBe(code);
  if (message) expect((e as FotaError).message).toMatch(message);
  return e as FotaError;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fota-pkg-'));
  slot = await FileSlot.create(join(dir, 'slot.img'), 1024 * 1024);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('memory', () => {
  // First in the file, so the RSS baseline is not inflated by earlier tests' garbage.
  it('streams 256 MiB without reading ahead of the slot or memory growing with the payload', async () => {
    const SIZE = 256 * 1024 * 1024;
    const CH = 64 * 1024;
    // 256 immutable blocks, allocated up front: the source itself adds no garbage per chunk
    const blocks = Array.from({ length: 256 }, (_, i) => Buffer.alloc(CH, i));
    const block = (i: number): Buffer => blocks[i & 0xff] as Buffer;
    const h = createHash('sha256');
    for (let i = 0; i < SIZE / CH; i++) h.update(block(i));
    const m: Manifest = { format: 1, name: 'big', version: '1', deviceTypes: ['fota-sim'], payload: { name: 'rootfs.img', size: SIZE, sha256: h.digest('hex'), compression: 'none' } };
    const text = Buffer.from(serializeManifest(m));
    async function* source(): AsyncGenerator<Uint8Array> {
      yield tarEntry({ name: 'manifest.json', size: text.length }, text);
      yield tarEntry({ name: 'manifest.sig', size: 64 }, sign(null, text, KEY.privateKey));
      yield ustarHeader({ name: 'rootfs.img', size: SIZE });
      for (let i = 0; i < SIZE / CH; i++) {
        yielded += CH;
        lead = Math.max(lead, yielded - written);
        yield Buffer.from(block(i)); // a fresh buffer per chunk, like a network source
      }
      yield Buffer.alloc(1024);
    }
    let written = 0;
    let yielded = 0;
    let lead = 0;
    const discard: SlotAccess = {
      capacity: async () => SIZE,
      read: async function* () {},
      open: async () => ({
        get position() {
          return written;
        },
        write: async (c) => {
          written += c.length;
          await new Promise((r) => setImmediate(r));
        },
        sync: async () => undefined,
        finish: async () => undefined,
        abort: async () => undefined,
      }),
    };
    const before = process.memoryUsage().rss;
    let peak = before;
    const info = await installPackage(source(), opts({ slot: discard, progress: (w) => w % (4 * 1024 * 1024) === 0 && (peak = Math.max(peak, process.memoryUsage().rss)) }));
    expect(info.payloadSize).toBe(SIZE);
    expect(written).toBe(SIZE);
    const growth = (peak - before) / 1024 / 1024;
    console.log(`package-install memory: rss ${Math.round(before / 1048576)} MiB before, peak growth ${growth.toFixed(1)} MiB, source lead ${lead / 1024} KiB, for a 256 MiB payload`);
    // backpressure: the source is never more than a couple of chunks ahead of what the slot accepted
    expect(lead).toBeLessThanOrEqual(2 * CH);
    // a loose guard (allocation churn is collected lazily); buffering the payload would grow by ~256 MiB
    // (regression: racing each source read against one long-lived "failed" promise kept every chunk alive: +265 MiB)
    expect(growth).toBeLessThan(96);
  }, 120_000);
});

describe('installPackage: good packages', () => {
  it('installs a signed package: the slot holds exactly the image, synced', async () => {
    const progress: number[] = [];
    const info = await installPackage(chunks(build().pkg), opts({ progress: (w, t) => (expect(t).toBe(IMAGE.length), progress.push(w)) }));
    expect(info).toEqual({ name: 'acme-rootfs', version: '3.0.0', payloadSize: IMAGE.length, sha256: createHash('sha256').update(IMAGE).digest('hex') });
    expect((await slot.head(IMAGE.length)).equals(IMAGE)).toBe(true);
    expect(slot.bytesWritten).toBe(IMAGE.length);
    expect(slot.finished).toBe(1);
    // the image's hash goes with the open: the slot checks its read-back against it
    expect(slot.opens).toEqual([{ size: IMAGE.length, sha256: createHash('sha256').update(IMAGE).digest('hex') }]);
    expect(progress.at(-1)).toBe(IMAGE.length);
  });

  it('accepts one-byte chunks and one single chunk alike', async () => {
    const small = randomBytes(700);
    const { pkg } = build({ image: small });
    await installPackage(chunks(pkg, 1), opts());
    expect((await slot.head(700)).equals(small)).toBe(true);
    await installPackage(chunks(pkg, pkg.length), opts());
    expect(slot.finished).toBe(2);
  });

  it('accepts a chunk boundary anywhere: inside a header block, inside the last tar block of the payload (network reads are arbitrary)', async () => {
    const image = randomBytes(3000); // payload entry: 3072 bytes, its last block half padding
    const { pkg, offset } = build({ image });
    const payloadEnd = offset + 3072;
    // the source splits the package so that the payload's last piece has 1, 100, 368 or 511 bytes
    for (const last of [1, 100, 368, 511]) {
      const cut = payloadEnd - last;
      async function* split(): AsyncGenerator<Uint8Array> {
        yield Buffer.from(pkg.subarray(0, cut));
        yield Buffer.from(pkg.subarray(cut, payloadEnd));
        yield Buffer.from(pkg.subarray(payloadEnd));
      }
      await installPackage(split(), opts());
      expect((await slot.head(3000)).equals(image)).toBe(true);
    }
    // and sources of odd-sized reads (TCP segments, TLS records): header blocks split across reads too
    for (const size of [100, 511, 513, 1000, 1448, 4093]) await installPackage(chunks(pkg, size), opts());
    expect(slot.finished).toBe(10);
  });

  it('installs a gzip package made by fota pack, writing the inflated image', async () => {
    const img = Buffer.concat([Buffer.alloc(200_000, 7), randomBytes(50_000)]);
    await writeFile(join(dir, 'rootfs.img'), img);
    await pack({ image: join(dir, 'rootfs.img'), out: join(dir, 'p.fota'), version: '1.2.3', deviceTypes: ['fota-sim'], key: KEY.privateKey, gzip: true });
    const info = await installPackage(createReadStream(join(dir, 'p.fota'), { highWaterMark: 4096 }), opts());
    expect(info.payloadSize).toBe(img.length);
    expect((await slot.head(img.length)).equals(img)).toBe(true);
  });

  it('refuses an unsigned package, and accepts it when unsigned packages are allowed', async () => {
    const { pkg } = build({ key: null });
    await refusal(installPackage(chunks(pkg), opts()), 'unsigned-package', /not signed/);
    expect(slot.opens).toEqual([]);
    await installPackage(chunks(pkg), opts({ allowUnsigned: true, trustedKeys: [] }));
    expect((await slot.head(IMAGE.length)).equals(IMAGE)).toBe(true);
  });

  it('still checks a present signature when unsigned packages are allowed', async () => {
    const m = manifestOf(IMAGE, { keyId: keyIdOf(OTHER.publicKey) });
    await refusal(installPackage(chunks(build({ manifest: m, key: OTHER.privateKey }).pkg), opts({ allowUnsigned: true })), 'untrusted-key');
    await refusal(installPackage(chunks(build({ key: OTHER.privateKey }).pkg), opts({ allowUnsigned: true })), 'signature-invalid');
    expect(slot.opens).toEqual([]);
  });
});

describe('installPackage: refusals before the first payload byte', () => {
  it('refuses a package signed by an untrusted key, naming the key', async () => {
    const m = manifestOf(IMAGE, { keyId: keyIdOf(OTHER.publicKey) });
    const e = await refusal(installPackage(chunks(build({ manifest: m, key: OTHER.privateKey }).pkg), opts()), 'untrusted-key');
    expect(e.message).toContain(keyIdOf(OTHER.publicKey));
    expect(e.message).toContain(keyIdOf(KEY.publicKey));
    expect(slot.bytesWritten).toBe(0);
  });

  it('refuses a tampered manifest (same length, signature from the original)', async () => {
    const { pkg } = build();
    const at = pkg.indexOf('"3.0.0"');
    pkg.write('"3.0.1"', at);
    await refusal(installPackage(chunks(pkg), opts()), 'signature-invalid', /altered/);
    expect(slot.opens).toEqual([]);
  });

  it('refuses a package for another device type', async () => {
    await refusal(installPackage(chunks(build().pkg), opts({ deviceType: 'rpi4' })), 'incompatible-device', /fota-sim.*"rpi4"/);
    expect(slot.opens).toEqual([]);
  });

  it('refuses an image larger than the slot', async () => {
    const small = await FileSlot.create(join(dir, 'small.img'), 1000);
    await refusal(installPackage(chunks(build().pkg), opts({ slot: small })), 'no-space', /300123 bytes.*holds 1000/);
    expect(small.opens).toEqual([]);
  });

  it('refuses a payload entry whose size disagrees with the manifest', async () => {
    await refusal(installPackage(chunks(build({ stored: IMAGE.subarray(0, 1000) }).pkg), opts()), 'unsupported-package', /holds 1000 bytes but the manifest says/);
    expect(slot.opens).toEqual([]);
  });

  it('refuses an invalid manifest, naming the field', async () => {
    const text = serializeManifest(manifestOf(IMAGE)).replace('"fota-sim"', '"fota sim"');
    await refusal(installPackage(chunks(build({ manifestText: text }).pkg), opts()), 'unsupported-package', /deviceTypes\[0\]/);
  });

  it('refuses a signed manifest that names a field twice, however the second one is spelled', async () => {
    const text = serializeManifest(manifestOf(IMAGE));
    for (const [variant, field] of [
      [text.replace('"version": "3.0.0",', '"version": "3.0.0",\n  "version": "0.0.1",'), 'version'],
      [text.replace('"version": "3.0.0",', '"version": "3.0.0",\n  "v\\u0065rsion": "0.0.1",'), 'version'],
      [text.replace('"compression": "none"', '"compression": "none", "sha256": "00"'), 'payload.sha256'],
    ] as const) {
      // signed as it is: the signature is valid, the manifest is not
      await refusal(installPackage(chunks(build({ manifestText: variant }).pkg), opts()), 'unsupported-package', new RegExp(`manifest field "${field.replace('.', '\\.')}": appears twice`));
    }
    expect(slot.opens).toEqual([]);
  });

  it('refuses a downgrade before any byte reaches the slot, unless the job allows it; never below the security floor', async () => {
    const pkg = build().pkg; // version 3.0.0
    const e = await refusal(installPackage(chunks(pkg), opts({ policy: { installed: '4.1.0', floor: '', allowDowngrade: false } })), 'downgrade-refused', /3\.0\.0 refused: it is a downgrade from the installed 4\.1\.0/);
    expect(e.message).toContain('a job that allows a downgrade');
    expect(slot.opens).toEqual([]);
    await refusal(installPackage(chunks(pkg), opts({ policy: { installed: '4.1.0', floor: '3.1.0', allowDowngrade: true } })), 'downgrade-refused', /below the security floor 3\.1\.0/);
    expect(slot.opens).toEqual([]);
    const info = await installPackage(chunks(pkg), opts({ policy: { installed: '4.1.0', floor: '3.0.0', allowDowngrade: true } }));
    expect(info.version).toBe('3.0.0');
  });

  it('checks the version again when a download resumes (the floor may have risen meanwhile)', async () => {
    const { pkg, offset } = build();
    const points: ResumePoint[] = [];
    const ac = new AbortController();
    await installPackage(chunks(pkg, 10_000), opts({ checkpointBytes: 64 * 1024, checkpoint: (p) => (points.push(p), ac.abort()), signal: ac.signal })).catch(() => undefined);
    const point = points[0]!;
    const opened = slot.opens.length;
    await refusal(resumePackage(chunks(pkg.subarray(offset + point.written)), point, opts({ policy: { installed: '', floor: '3.0.1', allowDowngrade: true } })), 'downgrade-refused', /below the security floor/);
    expect(slot.opens.length).toBe(opened);
  });

  it('passes the security floor a package declares on to the daemon', async () => {
    const m = manifestOf(IMAGE, { securityFloor: '2.9.0' });
    expect((await installPackage(chunks(build({ manifest: m }).pkg), opts())).securityFloor).toBe('2.9.0');
    const above = serializeManifest(manifestOf(IMAGE)).replace('"version": "3.0.0",', '"version": "3.0.0",\n  "securityFloor": "3.0.1",');
    await refusal(installPackage(chunks(build({ manifestText: above }).pkg), opts()), 'unsupported-package', /securityFloor.*above the package's own version/);
  });

  it('refuses a package signed by a retired key, saying so', async () => {
    const e = await refusal(installPackage(chunks(build().pkg), opts({ trustedKeys: [OTHER.publicKey], retiredKeyIds: [keyIdOf(KEY.publicKey)] })), 'untrusted-key', /was retired on this device/);
    expect(e.message).toContain(keyIdOf(KEY.publicKey));
    expect(slot.opens).toEqual([]);
  });

  it('refuses an unknown format version', async () => {
    const text = serializeManifest(manifestOf(IMAGE)).replace('"format": 1', '"format": 2');
    await refusal(installPackage(chunks(build({ manifestText: text }).pkg), opts()), 'unsupported-package', /"format".*must be 1/);
  });
});

describe('installPackage: integrity', () => {
  it('detects a tampered payload after writing it, naming both hashes; the slot is not finished (no read-back)', async () => {
    const { pkg, offset } = build();
    pkg[offset + 1000] = (pkg[offset + 1000] as number) ^ 0xff;
    const e = await refusal(installPackage(chunks(pkg), opts()), 'integrity-mismatch', /SHA-256 mismatch/);
    expect(e.message).toContain(createHash('sha256').update(IMAGE).digest('hex'));
    expect(slot.finished).toBe(0);
    expect(slot.aborted).toBe(1);
  });

  it('refuses a gzip payload that inflates past its declared size (decompression bomb)', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const m = manifestOf(Buffer.alloc(100_000), {}, { name: 'rootfs.img.gz', compression: 'gzip', storedSize: bomb.length });
    await refusal(installPackage(chunks(build({ manifest: m, stored: bomb }).pkg), opts()), 'integrity-mismatch', /larger than the 100000 bytes/);
    expect(slot.bytesWritten).toBeLessThanOrEqual(100_000);
    expect(slot.aborted).toBe(1);
  });

  it('refuses a gzip payload that is not gzip', async () => {
    const junk = randomBytes(5000);
    const m = manifestOf(IMAGE, {}, { name: 'rootfs.img.gz', compression: 'gzip', storedSize: junk.length });
    await refusal(installPackage(chunks(build({ manifest: m, stored: junk }).pkg), opts()), 'integrity-mismatch', /does not inflate/);
  });

  it.each([
    ['inside the manifest', 700, 'unsupported-package', /truncated after .* before its payload/],
    ['inside the payload', 100_000, 'integrity-mismatch', /truncated/],
    ['before the end-of-archive blocks', -1024, 'integrity-mismatch', /without the end-of-archive blocks/],
  ] as const)('refuses a package truncated %s', async (_where, cut, code, why) => {
    const { pkg } = build();
    await refusal(installPackage(chunks(pkg.subarray(0, cut < 0 ? pkg.length + cut : cut)), opts()), code, why);
  });
});

// hostile archives: the corpus in hostile-packages.test.ts

describe('resumePackage', () => {
  async function interrupted(pkg: Buffer, stopAfter: number): Promise<ResumePoint> {
    const points: ResumePoint[] = [];
    const ac = new AbortController();
    const err = await installPackage(chunks(pkg, 10_000), opts({ checkpointBytes: 64 * 1024, checkpoint: (p) => (points.push(p), points.length === stopAfter && ac.abort()), signal: ac.signal })).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    expect(slot.aborted).toBe(1);
    expect(points.length).toBe(stopAfter);
    return JSON.parse(JSON.stringify(points.at(-1))) as ResumePoint;
  }

  it('finishes an interrupted install from the last checkpoint, hashing what the slot already holds', async () => {
    const { pkg, offset, manifestText } = build();
    const point = await interrupted(pkg, 2);
    const token: ResumeToken = point; // the daemon persists it as an opaque ResumeToken
    expect(JSON.parse(JSON.stringify(token))).toEqual(point);
    expect(point).toMatchObject({ manifest: manifestText, payloadOffset: offset });
    expect(point.written).toBeGreaterThanOrEqual(128 * 1024);
    expect(point.writtenSha256).toBe(createHash('sha256').update(IMAGE.subarray(0, point.written)).digest('hex'));
    await rm(slot.path);
    const fresh = await FileSlot.create(slot.path, slot.size);
    await writeFile(slot.path, IMAGE.subarray(0, point.written), { flag: 'r+' });
    const progress: number[] = [];
    const info = await resumePackage(chunks(pkg.subarray(offset + point.written)), point, opts({ slot: fresh, progress: (w) => progress.push(w) }));
    expect(info.sha256).toBe(createHash('sha256').update(IMAGE).digest('hex'));
    expect((await fresh.head(IMAGE.length)).equals(IMAGE)).toBe(true);
    expect(fresh.opens).toEqual([{ size: IMAGE.length, offset: point.written, sha256: createHash('sha256').update(IMAGE).digest('hex') }]);
    expect(fresh.bytesWritten).toBe(IMAGE.length - point.written);
    expect(progress[0]).toBeGreaterThan(point.written);
  });

  it('detects a slot region corrupted since the checkpoint before writing anything', async () => {
    const { pkg, offset } = build();
    const point = await interrupted(pkg, 1);
    const fh = await open(slot.path, 'r+');
    await fh.write(Buffer.from([IMAGE[100]! ^ 0x55]), 0, 1, 100); // a change whatever the random byte was
    await fh.close();
    await refusal(resumePackage(chunks(pkg.subarray(offset + point.written)), point, opts()), 'integrity-mismatch', /changed since the checkpoint/);
    expect(slot.opens.length).toBe(1);
  });

  it('detects a corrupted slot region even without the checkpoint hash, at the final hash', async () => {
    const { pkg, offset } = build();
    const point = await interrupted(pkg, 1);
    const fh = await open(slot.path, 'r+');
    await fh.write(Buffer.from([IMAGE[100]! ^ 0x55]), 0, 1, 100); // a change whatever the random byte was
    await fh.close();
    const forged = { ...point, writtenSha256: createHash('sha256').update((await slot.head(point.written))).digest('hex') };
    await refusal(resumePackage(chunks(pkg.subarray(offset + point.written)), forged, opts()), 'integrity-mismatch', /SHA-256 mismatch/);
  });

  describe('into a slot that checks the image (the platforms’ slot writer, given the signed SHA-256)', () => {
    /** the real BlockSlotWriter on slot.path, opened as SlotSet opens it; `opened` lists where each writer started */
    const checking = () => {
      const opened: { offset: number }[] = [];
      const access: SlotAccess = {
        capacity: async () => slot.size,
        open: async (o) => (opened.push({ offset: o.offset ?? 0 }), openSlotWriter(slot.path, o.offset ?? 0, slot.size, o.sha256 ? { expect: { sha256: o.sha256, size: o.size } } : {})),
        read: (n) => readSlot(slot.path, n),
      };
      return { access, opened };
    };
    const interruptedInto = async (access: SlotAccess, pkg: Buffer): Promise<ResumePoint> => {
      const points: ResumePoint[] = [];
      const ac = new AbortController();
      await installPackage(chunks(pkg, 10_000), opts({ slot: access, checkpointBytes: 64 * 1024, checkpoint: (p) => (points.push(p), ac.abort()), signal: ac.signal })).catch(() => undefined);
      expect(points).toHaveLength(1);
      return JSON.parse(JSON.stringify(points[0])) as ResumePoint;
    };

    it('records checkpoints without a digest (nothing hashed the bytes on their way in) and resumes from them', async () => {
      const { pkg, offset } = build();
      const { access, opened } = checking();
      const point = await interruptedInto(access, pkg);
      expect(point.written).toBeGreaterThanOrEqual(64 * 1024);
      expect(point).not.toHaveProperty('writtenSha256');
      const info = await resumePackage(chunks(pkg.subarray(offset + point.written)), point, opts({ slot: access }));
      expect(info.sha256).toBe(createHash('sha256').update(IMAGE).digest('hex'));
      expect((await slot.head(IMAGE.length)).equals(IMAGE)).toBe(true);
      expect(opened).toEqual([{ offset: 0 }, { offset: point.written }]);
    });

    it('a slot region changed since such a checkpoint fails the image at the read-back of bytes 0..size', async () => {
      const { pkg, offset } = build();
      const { access } = checking();
      const point = await interruptedInto(access, pkg);
      const fh = await open(slot.path, 'r+');
      await fh.write(Buffer.from([IMAGE[100]! ^ 0x55]), 0, 1, 100);
      await fh.close();
      await refusal(resumePackage(chunks(pkg.subarray(offset + point.written)), point, opts({ slot: access })), 'integrity-mismatch', /SHA-256 mismatch.*bytes 0-300123 of slot/);
    });

    it('a corrupt package fails the same way, with a reason that names both causes', async () => {
      const { pkg, offset } = build();
      const bad = Buffer.from(pkg);
      bad[offset + 200_000] = bad[offset + 200_000]! ^ 1;
      const e = await refusal(installPackage(chunks(bad), opts({ slot: checking().access })), 'integrity-mismatch', /SHA-256 mismatch/);
      expect(e.message).toMatch(/the package is corrupt.*medium/);
    });

    it('a point without a digest is not resumed into a slot that does not check the image: the caller starts over', async () => {
      const { pkg, offset } = build();
      const point = await interruptedInto(checking().access, pkg);
      await refusal(resumePackage(chunks(pkg.subarray(offset + point.written)), point, opts()), 'integrity-mismatch', /no digest.*download the package again/);
    });
  });

  it('re-verifies the manifest with the keys trusted now', async () => {
    const { pkg, offset } = build();
    const point = await interrupted(pkg, 1);
    await refusal(resumePackage(chunks(pkg.subarray(offset + point.written)), point, opts({ trustedKeys: [OTHER.publicKey] })), 'untrusted-key');
    const tampered = { ...point, manifest: point.manifest.replace('3.0.0', '3.0.1') };
    await refusal(resumePackage(chunks(pkg.subarray(offset + point.written)), tampered, opts()), 'signature-invalid');
    await refusal(resumePackage(chunks(pkg.subarray(offset + point.written)), { ...point, payloadOffset: 0 }, opts()), 'unsupported-package', /resume point/);
    await refusal(resumePackage(chunks(Buffer.alloc(0)), { ...point, written: -1 }, opts()), 'unsupported-package', /malformed/);
    await refusal(resumePackage(chunks(Buffer.alloc(0)), { ...point, signature: 'AAAA' }, opts()), 'unsupported-package', /malformed/);
  });

  it('refuses data after the payload and a truncated rest', async () => {
    const { pkg, offset } = build();
    const point = await interrupted(pkg, 1);
    const rest = pkg.subarray(offset + point.written);
    await refusal(resumePackage(chunks(Buffer.concat([rest, Buffer.from('x')])), point, opts()), 'unsupported-package', /data follows the payload/);
    await refusal(resumePackage(chunks(rest.subarray(0, 1000)), point, opts()), 'integrity-mismatch', /truncated/);
  });
});

describe('abort', () => {
  it('rejects with an AbortError while the source hangs, and aborts the slot writer', async () => {
    const { pkg, offset } = build();
    const ac = new AbortController();
    async function* hanging(): AsyncGenerator<Uint8Array> {
      yield pkg.subarray(0, offset + 50_000);
      await new Promise(() => undefined);
    }
    const p = installPackage(hanging(), opts({ signal: ac.signal, progress: (w) => w >= 50_000 && ac.abort() }));
    const err = await p.catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    expect(slot.aborted).toBe(1);
    expect(slot.finished).toBe(0);
  });

  it('rejects at once when the signal was aborted before the start', async () => {
    const err = await installPackage(chunks(build().pkg), opts({ signal: AbortSignal.abort() })).catch((e: unknown) => e);
    expect((err as Error).name).toBe('AbortError');
    expect(slot.opens).toEqual([]);
  });
});

