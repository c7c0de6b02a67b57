// `fota inspect`: a package's manifest, and whether its signature and payload verify (docs/package-format.md).
// Progress goes to stderr only when stderr is a terminal.

import type { KeyObject } from 'node:crypto';
import { CliError, EXIT, strs, type Command, type Parsed } from '../command.js';
import { progressLine } from '../output.js';
import { tool } from '../package-errors.js';
import { inspect, type InspectReport } from '../package/package-inspect.js';
import { keyIdOf, loadPublicKey } from '../package/package-tools.js';

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

