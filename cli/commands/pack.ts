// `fota pack`: a signed firmware package from an image (docs/package-format.md). A thin wrapper over
// cli/package/package-tools.ts; progress goes to stderr only when stderr is a terminal.

import { EXIT, requireOpt, str, strs, usageError, type Command, type Parsed } from '../command.js';
import { printJson, progressLine } from '../output.js';
import { tool } from '../package-errors.js';
import { loadPrivateKey, pack } from '../package/package-tools.js';

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
    if (args.values.json) return (printJson({ out: r.out, bytes: r.bytes, keyId: r.keyId ?? null, manifest: r.manifest }), EXIT.ok);
    const p = r.manifest.payload;
    console.log(`wrote ${r.out} (${r.bytes} bytes): ${r.manifest.name} ${r.manifest.version} for ${r.manifest.deviceTypes.join(', ')}`);
    console.log(`payload ${p.name}: ${p.size} bytes${p.compression === 'gzip' ? `, gzip ${p.storedSize} bytes` : ''}, sha256 ${p.sha256}`);
    console.log(r.keyId ? `signed with key ${r.keyId}` : 'UNSIGNED: devices refuse it unless they allow unsigned packages');
    return EXIT.ok;
  },
};

