// `fota keygen`: an Ed25519 key pair for signing packages (docs/package-format.md).

import { EXIT, requireOpt, type Command, type Parsed } from '../command.js';
import { printJson } from '../output.js';
import { tool } from '../package-errors.js';
import { keygen } from '../package/package-tools.js';

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
    if (args.values.json) return (printJson(k), EXIT.ok);
    console.log(`wrote ${k.privateKey} (private, mode 0600) and ${k.publicKey}; keyId ${k.keyId}`);
    return EXIT.ok;
  },
};

