// The package-signing keys an agent trusts: Ed25519 public keys in PEM (SPKI), from files (`trustedKeys`) or sent by
// the hub (`trustedKeysPem`, key rotation without a reflash), minus the retired ones (`retiredKeys`, by keyId).
// Nothing but a bare public key is accepted: a private key would put the signing secret on every device; a
// certificate would suggest expiry and chain checks that fota does not make.

import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { KEY_ID_HEX_DIGITS } from '../../protocol/package-format.js';
import { ConfigError } from '../config-schema.js';
import { readKeyFile, type AgentConfig } from '../config.js';

/** keyId of an Ed25519 public key: first 16 hex digits of SHA-256 over its SPKI DER encoding (package-format.md). */
export function keyIdOf(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, KEY_ID_HEX_DIGITS);
}

/** The largest PEM text accepted for one key (an Ed25519 SPKI PEM is 113 bytes). */
export const MAX_KEY_PEM = 1024;

/**
 * The Ed25519 public key in `pem`: exactly one "PUBLIC KEY" block and nothing else but whitespace. Throws an Error
 * whose message completes "<where> …" and says what to do instead.
 */
export function publicKeyFromPem(pem: string): KeyObject {
  if (pem.length > MAX_KEY_PEM) return fail(`is ${pem.length} characters long; an Ed25519 public key in PEM is about 113`);
  const labels = [...pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((m) => m[1] as string);
  if (labels.some((l) => l.includes('PRIVATE KEY'))) {
    return fail('is a private key: never ship the signing key to devices (anyone with a device could sign firmware); give its public key (`fota keygen` writes NAME.pub; or: openssl pkey -in KEY -pubout)');
  }
  if (labels.some((l) => l.includes('CERTIFICATE'))) {
    return fail('is a certificate; fota trusts bare public keys and checks no expiry or chain: extract the key (openssl x509 -in CERT -pubkey -noout)');
  }
  if (labels.length !== 1 || labels[0] !== 'PUBLIC KEY') return fail(labels.length > 1 ? `holds ${labels.length} PEM blocks; give exactly one public key` : 'is not a PEM public key (make one with: fota keygen -o NAME)');
  const outside = pem.replace(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/, '');
  if (outside.trim() !== '') return fail('holds text besides its PEM block; give exactly one public key');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    return fail('is not a valid PEM public key (make one with: fota keygen -o NAME)');
  }
  if (key.asymmetricKeyType !== 'ed25519') return fail(`is a ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
  return key;
}

function fail(why: string): never {
  throw new Error(why);
}

/** The keys packages are checked against, and the ids of the retired ones (named when a package uses one). */
export interface TrustedKeys {
  keys: KeyObject[];
  retired: string[];
}

/**
 * Reads the key files and parses the PEM keys of a configuration; drops the retired ones. Throws ConfigError naming
 * the key (`trustedKeys[1]`, `trustedKeysPem[0]`), and when no key is left while unsigned packages are not allowed
 * (a device that trusts no key could never be updated again).
 */
export function loadTrustedKeys(cfg: Pick<AgentConfig, 'trustedKeys' | 'trustedKeysPem' | 'retiredKeys' | 'allowUnsigned'>): TrustedKeys {
  const parse = (name: string, pem: string, shown: string): KeyObject => {
    try {
      return publicKeyFromPem(pem);
    } catch (e) {
      throw new ConfigError(name, `${shown} ${(e as Error).message}`);
    }
  };
  const all = [
    ...cfg.trustedKeys.map((path, i) => parse(`trustedKeys[${i}]`, readKeyFile(`trustedKeys[${i}]`, path), path)),
    ...cfg.trustedKeysPem.map((pem, i) => parse(`trustedKeysPem[${i}]`, pem, 'the key')),
  ];
  const retired = new Set(cfg.retiredKeys);
  const seen = new Set<string>();
  const keys = all.filter((k) => {
    const id = keyIdOf(k);
    if (retired.has(id) || seen.has(id)) return false;
    seen.add(id);
    return true;
  });
  if (keys.length === 0 && all.length > 0 && !cfg.allowUnsigned) {
    throw new ConfigError('retiredKeys', `retires every trusted key (${[...new Set(all.map(keyIdOf))].join(', ')}): no package could be installed any more; add the new key (trustedKeysPem) in the same change`);
  }
  return { keys, retired: [...retired] };
}
