// The operator's package tools and CLI commands on real files: keygen file modes, pack → inspect round trips,
// GNU tar reading what pack writes, inspect failing on damaged packages, and the by-hand recipe from
// docs/package-format.md (GNU tar + openssl) producing a package that inspect and the agent accept.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, chmod, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EXIT, parseFor, type Command } from '../../cli/command.js';
import { COMMANDS } from '../../cli/commands/index.js';
import { inspectCommand } from '../../cli/commands/inspect.js';
import { keygenCommand } from '../../cli/commands/keygen.js';
import { packCommand } from '../../cli/commands/pack.js';
import { inspect } from '../../cli/package/package-inspect.js';
import { keygen, loadPrivateKey, loadPublicKey, pack, PackageToolError } from '../../cli/package/package-tools.js';
import { installPackage, type SlotAccess } from '../../agent/adapters/package-install.js';
import type { SlotWriter } from '../../agent/core/ports.js';

const run = promisify(execFile);
let dir: string;
let image: Buffer;
const at = (name: string): string => join(dir, name);

/** Runs a command as `fota` would (parseFor + run), capturing what it prints on stdout. */
async function cli(cmd: Command, argv: string[], out: string[] = []): Promise<number> {
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  try {
    return await cmd.run(parseFor(cmd, argv));
  } finally {
    log.mockRestore();
  }
}

/** A slot that keeps what is written in memory (small images only). */
function memorySlot(): SlotAccess & { bytes: () => Buffer } {
  const parts: Buffer[] = [];
  return {
    bytes: () => Buffer.concat(parts),
    capacity: async () => 16 * 1024 * 1024,
    read: async function* () {},
    open: async (): Promise<SlotWriter> => ({
      position: 0,
      write: async (c) => void parts.push(Buffer.from(c)),
      sync: async () => undefined,
      finish: async () => undefined,
      abort: async () => undefined,
    }),
  };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fota-tools-'));
  image = Buffer.concat([randomBytes(100_000), Buffer.alloc(150_000, 0x42), randomBytes(1234)]);
  await writeFile(at('rootfs.img'), image);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('keygen', () => {
  it('writes a 0600 private key and a public key, and refuses to overwrite them', async () => {
    const k = await keygen(at('release'));
    expect((await stat(k.privateKey)).mode & 0o777).toBe(0o600);
    expect((await stat(k.publicKey)).mode & 0o777).toBe(0o644);
    expect(await readFile(k.privateKey, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(await readFile(k.publicKey, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(k.keyId).toMatch(/^[0-9a-f]{16}$/);
    const before = await readFile(k.privateKey, 'utf8');
    await expect(keygen(at('release'))).rejects.toThrow(PackageToolError);
    await expect(keygen(at('release'))).rejects.toThrow(/already exists.*--force/);
    expect(await readFile(k.privateKey, 'utf8')).toBe(before);
  });

  it('overwrites with --force, and the private key is 0600 even if the old file was not', async () => {
    await keygen(at('release'));
    await chmod(at('release.key'), 0o644);
    const before = await readFile(at('release.key'), 'utf8');
    expect(await cli(keygenCommand, ['-o', at('release'), '--force'])).toBe(EXIT.ok);
    expect((await stat(at('release.key'))).mode & 0o777).toBe(0o600);
    expect(await readFile(at('release.key'), 'utf8')).not.toBe(before);
    await expect(cli(keygenCommand, ['-o', at('release')])).rejects.toMatchObject({ exitCode: EXIT.failure });
  });
});

describe('pack and inspect', () => {
  it('round-trips a signed package: inspect verifies signature and payload, GNU tar lists and extracts it', async () => {
    const k = await keygen(at('release'));
    const r = await pack({ image: at('rootfs.img'), out: at('p.fota'), version: '3.0.0', deviceTypes: ['fota-sim', 'rpi4'], name: 'acme-rootfs', key: await loadPrivateKey(k.privateKey) });
    expect(r.manifest).toMatchObject({ name: 'acme-rootfs', version: '3.0.0', keyId: k.keyId, payload: { name: 'rootfs.img', size: image.length, sha256: createHash('sha256').update(image).digest('hex'), compression: 'none' } });
    const report = await inspect(at('p.fota'), { trust: [await loadPublicKey(k.publicKey)] });
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, signature: { state: 'verified', keyId: k.keyId }, payload: { state: 'ok', size: image.length } });
    expect(report.entries.map((e) => e.name)).toEqual(['manifest.json', 'manifest.sig', 'rootfs.img']);

    const { stdout } = await run('tar', ['-tvf', at('p.fota')]);
    const lines = stdout.trim().split('\n');
    expect(lines.map((l) => l.split(/\s+/).at(-1))).toEqual(['manifest.json', 'manifest.sig', 'rootfs.img']);
    expect(lines.every((l) => l.startsWith('-rw-r--r--'))).toBe(true);
    expect(lines[2]).toContain(String(image.length));
    const extracted = await run('tar', ['-xOf', at('p.fota'), 'rootfs.img'], { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 });
    expect(Buffer.compare(extracted.stdout, image)).toBe(0);
  });

  it('round-trips a gzip package, and the agent installs it', async () => {
    const k = await keygen(at('release'));
    const r = await pack({ image: at('rootfs.img'), out: at('p.fota'), version: '1.0', deviceTypes: ['fota-sim'], key: await loadPrivateKey(k.privateKey), gzip: true });
    expect(r.manifest.payload).toMatchObject({ name: 'rootfs.img.gz', compression: 'gzip' });
    expect(r.manifest.payload.storedSize).toBeLessThan(image.length);
    expect(r.manifest.name).toBe('rootfs');
    const report = await inspect(at('p.fota'), { trust: [await loadPublicKey(k.publicKey)] });
    expect(report.ok).toBe(true);
    const slot = memorySlot();
    await installPackage(createReadStream(at('p.fota')), { deviceType: 'fota-sim', trustedKeys: [await loadPublicKey(k.publicKey)], allowUnsigned: false, slot });
    expect(slot.bytes().equals(image)).toBe(true);
  });

  it('reports the signature unchecked without --trust, and untrusted with another key', async () => {
    const k = await keygen(at('release'));
    const other = await keygen(at('other'));
    await pack({ image: at('rootfs.img'), out: at('p.fota'), version: '3.0.0', deviceTypes: ['fota-sim'], key: await loadPrivateKey(k.privateKey) });
    expect(await inspect(at('p.fota'))).toMatchObject({ ok: true, signature: { state: 'not-checked', keyId: k.keyId } });
    const r = await inspect(at('p.fota'), { trust: [await loadPublicKey(other.publicKey)] });
    expect(r).toMatchObject({ ok: false, signature: { state: 'untrusted' } });
    expect(r.problems.join()).toContain(k.keyId);
    expect(await cli(inspectCommand, [at('p.fota'), '--trust', other.publicKey])).toBe(EXIT.failure);
    const text: string[] = [];
    expect(await cli(inspectCommand, [at('p.fota'), '--trust', other.publicKey, '--trust', k.publicKey], text)).toBe(EXIT.ok);
    expect(text.join('\n')).toContain(`signature   verified, key ${k.keyId} (${k.publicKey})`);
    expect(text.join('\n')).toMatch(/version +3\.0\.0/);
    const json: string[] = [];
    expect(await cli(inspectCommand, [at('p.fota'), '--trust', k.publicKey, '--json'], json)).toBe(EXIT.ok);
    expect(JSON.parse(json.join('\n'))).toMatchObject({ ok: true, manifest: { version: '3.0.0' }, signature: { state: 'verified' } });
  });

  it.each([
    ['a flipped payload byte', (f: string, size: number): Promise<void> => patch(f, size - 1500, 0xff), /payload: .* the manifest says/],
    ['a tampered manifest', async (f: string): Promise<void> => patch(f, (await readFile(f)).indexOf('"3.0.0"') + 5, 0x01), /the signature does not match the manifest/],
    ['a manifest that is no longer valid JSON', (f: string): Promise<void> => patch(f, 512, 0x01), /invalid manifest\.json/],
    ['a truncated package', (f: string, size: number): Promise<void> => truncate(f, size - 5000), /truncated/i],
    ['garbage appended', (f: string): Promise<void> => appendFile(f, 'x'), /data follows the payload/],
  ] as const)('inspect fails on %s and the command exits 1', async (_what, damage, why) => {
    const k = await keygen(at('release'));
    await pack({ image: at('rootfs.img'), out: at('p.fota'), version: '3.0.0', deviceTypes: ['fota-sim'], key: await loadPrivateKey(k.privateKey) });
    await damage(at('p.fota'), (await stat(at('p.fota'))).size);
    const r = await inspect(at('p.fota'), { trust: [await loadPublicKey(k.publicKey)] });
    expect(r.ok).toBe(false);
    expect(r.problems.join('\n')).toMatch(why);
    const out: string[] = [];
    expect(await cli(inspectCommand, [at('p.fota'), '--trust', k.publicKey], out)).toBe(EXIT.failure);
    expect(out.join('\n')).toMatch(/FAILED:\n  - /);
  });

  it('pack refuses an unsigned package unless --unsigned, and names bad options', async () => {
    const base = ['--image', at('rootfs.img'), '--version', '1.0', '--device-type', 'fota-sim', '-o', at('p.fota')];
    await expect(cli(packCommand, base)).rejects.toMatchObject({ exitCode: EXIT.usage, message: expect.stringMatching(/unsigned/) });
    expect(await cli(packCommand, [...base, '--unsigned'])).toBe(EXIT.ok);
    expect(await inspect(at('p.fota'))).toMatchObject({ ok: true, signature: { state: 'unsigned' } });
    expect((await inspect(at('p.fota'), { trust: [await loadPublicKey((await keygen(at('k'))).publicKey)] })).ok).toBe(false);
    await expect(cli(packCommand, [...base, '--unsigned', '--version', 'not a version'])).rejects.toThrow(/--version/);
    await expect(cli(packCommand, [...base.slice(0, 4), '-o', at('q.fota'), '--unsigned'])).rejects.toThrow(/--device-type/);
    await expect(pack({ image: at('missing.img'), out: at('q.fota'), version: '1', deviceTypes: ['x'] })).rejects.toThrow(/not a non-empty regular file/);
  });

  it('the three commands are in the command table', () => {
    expect(COMMANDS.filter((c) => [keygenCommand, packCommand, inspectCommand].includes(c)).map((c) => c.name)).toEqual(['keygen', 'pack', 'inspect']);
  });
});

async function truncate(file: string, size: number): Promise<void> {
  const fh = await open(file, 'r+');
  await fh.truncate(size);
  await fh.close();
}

async function patch(file: string, offset: number, xor: number): Promise<void> {
  const fh = await open(file, 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, offset);
  b[0] = (b[0] as number) ^ xor;
  await fh.write(b, 0, 1, offset);
  await fh.close();
}

describe('the by-hand recipe in docs/package-format.md', () => {
  it('builds, with GNU tar and openssl only, a package that inspect verifies and the agent installs', async () => {
    const doc = await readFile(new URL('../../docs/package-format.md', import.meta.url), 'utf8');
    const recipe = /<!-- recipe:by-hand -->\n```sh\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(recipe).toBeDefined();
    await run('bash', ['-euo', 'pipefail', '-c', recipe as string], { cwd: dir });
    const pkg = at('acme-rootfs-3.0.0.fota');
    const trusted = await loadPublicKey(at('release.pub'));
    const report = await inspect(pkg, { trust: [trusted] });
    expect(report.problems).toEqual([]);
    expect(report.signature.state).toBe('verified');
    const slot = memorySlot();
    const info = await installPackage(createReadStream(pkg), { deviceType: 'fota-sim', trustedKeys: [trusted], allowUnsigned: false, slot });
    expect(info).toMatchObject({ name: 'acme-rootfs', version: '3.0.0', payloadSize: image.length });
    expect(slot.bytes().equals(image)).toBe(true);

    // the pitfall the doc warns about: the same files archived in pax format carry extended headers
    await run('tar', ['--format=pax', '-cf', at('pax.fota'), 'manifest.json', 'manifest.sig', 'rootfs.img'], { cwd: dir });
    expect((await inspect(at('pax.fota'), { trust: [trusted] })).problems.join()).toMatch(/PAX/);
    const err = await installPackage(createReadStream(at('pax.fota')), { deviceType: 'fota-sim', trustedKeys: [trusted], allowUnsigned: false, slot: memorySlot() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'unsupported-package', message: expect.stringMatching(/PAX/) });
  });
});
