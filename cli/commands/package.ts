// `fota keygen`, `fota pack`, `fota inspect`: build and check signed firmware packages (docs/package-format.md).
// Thin wrappers over cli/package/package-tools.ts; progress goes to stderr only when stderr is a terminal.

import { CliError, EXIT, requireOpt, str, strs, usageError, type Command, type Parsed } from '../command.js';
import type { KeyObject } from 'node:crypto';
import { inspect, type InspectReport } from '../package/package-inspect.js';
import { keygen, keyIdOf, loadPrivateKey, loadPublicKey, pack, PackageToolError } from '../package/package-tools.js';

/** Turns the tools' operator-facing errors into one-line CLI failures; anything else stays a bug with a stack. */
async function tool<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof PackageToolError) throw new CliError(e.message, EXIT.failure);
    throw e;
  }
}

const MiB = 1024 * 1024;

/** A `\r`-rewritten progress line on stderr, at most ~5 times a second; silent when stderr is not a TTY. */
function progressLine(label: string): { update(done: number, total: number, phase?: string): void; end(): void } {
  if (!process.stderr.isTTY) return { update: () => undefined, end: () => undefined };
  let last = 0;
  let shown = false;
  return {
    update(done, total, phase) {
      const now = Date.now();
      if (now - last < 200 && done < total) return;
      last = now;
      shown = true;
      const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
      process.stderr.write(`\r${label}${phase ? ` (${phase})` : ''}: ${pct}% of ${(total / MiB).toFixed(1)} MiB   `);
    },
    end() {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'create an Ed25519 signing key pair for packages',
  usage: `Usage: fota keygen -o NAME [--force] [--json]

Writes NAME.key (private, PKCS#8 PEM, mode 0600: keep it off the devices) and NAME.pub (public, SPKI PEM: give it
to the devices as a trusted key). Refuses to overwrite existing files unless --force.

Options:
  -o, --out NAME   base name of the two files
  --force          overwrite existing key files
  --json           print the two paths and the keyId as JSON

Example:
  fota keygen -o keys/release`,
  options: { out: { type: 'string', short: 'o' }, force: { type: 'boolean' }, json: { type: 'boolean' } },
  async run(args: Parsed) {
    const base = requireOpt(args, 'out');
    const k = await tool(() => keygen(base, { force: args.values.force === true }));
    if (args.values.json) return (console.log(JSON.stringify(k, null, 2)), EXIT.ok);
    console.log(`wrote ${k.privateKey} (private, mode 0600) and ${k.publicKey}; keyId ${k.keyId}`);
    return EXIT.ok;
  },
};

export const packCommand: Command = {
  name: 'pack',
  summary: 'build a signed firmware package from an image',
  usage: `Usage: fota pack --image IMG --version V --device-type T [--device-type T2 ...] [--name N]
                 (--key NAME.key | --unsigned) [--gzip] [--description TEXT] [--security-floor V] [--json] -o OUT

Builds a package: a plain tar of manifest.json, manifest.sig (Ed25519 over manifest.json) and the image. The image is
read twice, streaming (once to hash it, once to write it), never held in memory.

Options:
  --image IMG          the raw image written to the device's inactive slot
  --version V          firmware version the image carries
  --device-type T      a device type the image is for (repeat for several)
  --name N             package name (default: the image file name without extension)
  --key NAME.key       signing key from \`fota keygen\`
  --unsigned           build an unsigned package (devices refuse it unless configured to allow them)
  --gzip               compress the payload (devices inflate it while writing)
  --description TEXT   free text stored in the manifest
  --security-floor V   anti-rollback: once this package is committed, a device refuses any version below V,
                       even in a job that allows a downgrade (V at most --version; docs/package-format.md)
  -o, --out OUT        the package file to write
  --json               print the package file, its size, keyId and manifest as JSON

Example:
  fota pack --image rootfs.img --version 3.0.0 --device-type fota-sim --key keys/release.key -o acme-3.0.0.fota`,
  options: {
    image: { type: 'string' },
    version: { type: 'string' },
    'device-type': { type: 'string', multiple: true },
    name: { type: 'string' },
    key: { type: 'string' },
    unsigned: { type: 'boolean' },
    gzip: { type: 'boolean' },
    description: { type: 'string' },
    'security-floor': { type: 'string' },
    out: { type: 'string', short: 'o' },
    json: { type: 'boolean' },
  },
  async run(args: Parsed) {
    const image = requireOpt(args, 'image');
    const version = requireOpt(args, 'version');
    const out = requireOpt(args, 'out');
    const deviceTypes = strs(args.values['device-type']);
    if (deviceTypes.length === 0) throw usageError('--device-type is required (repeat it for several)');
    const keyPath = str(args.values.key);
    if (keyPath && args.values.unsigned) throw usageError('--key and --unsigned exclude each other');
    if (!keyPath && !args.values.unsigned) throw usageError('refusing to build an unsigned package', 'pass --key NAME.key (see: fota keygen), or --unsigned if you really mean it');
    const key = keyPath ? await tool(() => loadPrivateKey(keyPath)) : undefined;
    const line = progressLine('packing');
    const name = str(args.values.name);
    const description = str(args.values.description);
    const securityFloor = str(args.values['security-floor']);
    const r = await tool(() =>
      pack({
        ...{ image, out, version, deviceTypes, gzip: args.values.gzip === true, progress: line.update },
        ...(key ? { key } : {}),
        ...(name ? { name } : {}),
        ...(description !== undefined ? { description } : {}),
        ...(securityFloor !== undefined ? { securityFloor } : {}),
      }),
    ).finally(() => line.end());
    if (args.values.json) return (console.log(JSON.stringify({ out: r.out, bytes: r.bytes, keyId: r.keyId ?? null, manifest: r.manifest }, null, 2)), EXIT.ok);
    const p = r.manifest.payload;
    console.log(`wrote ${r.out} (${r.bytes} bytes): ${r.manifest.name} ${r.manifest.version} for ${r.manifest.deviceTypes.join(', ')}`);
    console.log(`payload ${p.name}: ${p.size} bytes${p.compression === 'gzip' ? `, gzip ${p.storedSize} bytes` : ''}, sha256 ${p.sha256}`);
    console.log(r.keyId ? `signed with key ${r.keyId}` : 'UNSIGNED: devices refuse it unless they allow unsigned packages');
    return EXIT.ok;
  },
};

const SIGNATURE_TEXT: Record<InspectReport['signature']['state'], string> = {
  verified: 'verified',
  'not-checked': 'present, NOT checked (pass --trust KEY.pub)',
  unsigned: 'none (unsigned package)',
  invalid: 'INVALID (the manifest or signature was altered)',
  untrusted: 'by a key that is not among the --trust keys',
  unknown: 'not reached',
};

/** The human-readable report: manifest first, then what verified. */
export function formatReport(r: InspectReport, trustPaths: Map<string, string>): string {
  const m = r.manifest;
  const lines = [`package     ${r.file} (${r.bytes} bytes)`, `entries     ${r.entries.map((e) => `${e.name} (${e.size})`).join(', ') || 'none'}`];
  if (m) {
    const p = m.payload;
    lines.push(
      `name        ${m.name}`,
      `version     ${m.version}`,
      `devices     ${m.deviceTypes.join(', ')}`,
      `payload     ${p.name}: ${p.size} bytes, ${p.compression === 'gzip' ? `gzip (${p.storedSize} bytes stored)` : 'uncompressed'}`,
      `sha256      ${p.sha256}`,
    );
    if (m.created) lines.push(`created     ${m.created}`);
    if (m.description) lines.push(`description ${m.description}`);
    if (m.securityFloor) lines.push(`floor       ${m.securityFloor} (devices refuse lower versions once this is committed)`);
  }
  const key = r.signature.keyId;
  const via = key && trustPaths.has(key) ? ` (${trustPaths.get(key)})` : '';
  lines.push(`signature   ${SIGNATURE_TEXT[r.signature.state]}${key ? `, key ${key}${r.signature.state === 'verified' ? via : ''}` : ''}`);
  lines.push(`payload     ${r.payload.state === 'ok' ? 'size and SHA-256 match the manifest' : r.payload.state === 'mismatch' ? 'DOES NOT match the manifest' : 'not checked'}`);
  lines.push(r.ok ? 'OK' : `FAILED:\n${r.problems.map((p) => `  - ${p}`).join('\n')}`);
  return lines.join('\n');
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'show a package manifest and verify its signature and payload',
  usage: `Usage: fota inspect PKG [--trust NAME.pub ...] [--json]

Prints the manifest, checks the archive layout, the signature (against the --trust keys) and the payload's size and
SHA-256 by streaming it. Exits 1 when anything does not verify; without --trust the signature is shown, not checked.

Options:
  --trust NAME.pub   a trusted public key (repeat for several)
  --json             print the report as JSON

Example:
  fota inspect acme-3.0.0.fota --trust keys/release.pub`,
  options: { trust: { type: 'string', multiple: true }, json: { type: 'boolean' } },
  positionals: { min: 1, max: 1 },
  async run(args: Parsed) {
    const file = args.positionals[0] as string;
    const trustPaths = new Map<string, string>();
    const trust: KeyObject[] = [];
    for (const path of strs(args.values.trust)) {
      const key = await tool(() => loadPublicKey(path));
      trust.push(key);
      trustPaths.set(keyIdOf(key), path);
    }
    const line = progressLine('verifying');
    const r = await inspect(file, { trust, progress: line.update })
      .catch((e: unknown) => {
        throw new CliError(`cannot read ${file}: ${(e as Error).message}`, EXIT.failure);
      })
      .finally(() => line.end());
    console.log(args.values.json ? JSON.stringify(r, null, 2) : formatReport(r, trustPaths));
    return r.ok ? EXIT.ok : EXIT.failure;
  },
};

/** The package commands, for cli/commands/index.ts. */
export const PACKAGE_COMMANDS: Command[] = [keygenCommand, packCommand, inspectCommand];
