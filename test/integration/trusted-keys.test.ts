// The trusted package-signing keys as the agent reads them at start (readAgentSecrets) and before it keeps a remote
// configuration change (ConfigOverrides.check): real key files made with openssl, PEM keys over the wire, retired
// keys. A private key or a certificate is never a trusted key.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWithOverrides } from '../../agent/adapters/config-overrides.js';
import { keyIdOf, publicKeyFromPem } from '../../agent/adapters/trusted-keys.js';
import { readAgentSecrets } from '../../agent/compose.js';
import { ConfigError } from '../../agent/config-schema.js';
import { parseConfig } from '../../agent/config.js';

const run = promisify(execFile);
let dir: string;
const files: Record<string, string> = {};
const pem = (k: { export(o: { type: 'spki'; format: 'pem' }): string | Buffer }) => String(k.export({ type: 'spki', format: 'pem' }));
const A = generateKeyPairSync('ed25519');
const B = generateKeyPairSync('ed25519');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fota-keys-'));
  const at = (n: string) => (files[n] = join(dir, n));
  await run('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', at('release.key')]);
  await run('openssl', ['pkey', '-in', files['release.key']!, '-pubout', '-out', at('release.pub')]);
  await run('openssl', ['req', '-x509', '-key', files['release.key']!, '-out', at('release.crt'), '-days', '1', '-subj', '/CN=fota release']);
  await run('openssl', ['genpkey', '-algorithm', 'rsa', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', at('rsa.key')]);
  await run('openssl', ['pkey', '-in', files['rsa.key']!, '-pubout', '-out', at('rsa.pub')]);
  await writeFile(at('two.pub'), pem(A.publicKey) + pem(B.publicKey));
  await writeFile(at('junk.pub'), 'hello\n');
  await writeFile(at('a.pub'), pem(A.publicKey));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cfgWith = (raw: Record<string, unknown>) => parseConfig({ deviceId: 'd1', platform: { name: 'simulator', options: {} }, ...raw });

function configError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('trusted keys', () => {
  it('accepts an Ed25519 public key file (openssl or fota keygen)', () => {
    const { trustedKeys } = readAgentSecrets(cfgWith({ trustedKeys: [files['release.pub'], files['a.pub']] }));
    const release = publicKeyFromPem(readFileSync(files['release.pub']!, 'utf8'));
    expect(trustedKeys.keys.map(keyIdOf)).toEqual([keyIdOf(release), keyIdOf(A.publicKey)]);
  });

  it.each([
    ['release.key', /trustedKeys\[0\]: .*release\.key is a private key: never ship the signing key to devices/],
    ['release.crt', /trustedKeys\[0\]: .*release\.crt is a certificate; .*openssl x509 -in CERT -pubkey -noout/],
    ['rsa.pub', /is a rsa key, not Ed25519/],
    ['two.pub', /holds 2 PEM blocks/],
    ['junk.pub', /is not a PEM public key/],
  ])('refuses %s with a configuration error that says what to do', (name, why) => {
    const message = configError(() => readAgentSecrets(cfgWith({ trustedKeys: [files[name]] })));
    expect(message).toMatch(why);
    expect(message).not.toMatch(/BEGIN/); // never echoes key material
  });

  it('takes PEM keys from the configuration (key rotation) and drops the retired ones', () => {
    const a = keyIdOf(A.publicKey);
    const { trustedKeys } = readAgentSecrets(cfgWith({ trustedKeys: [files['a.pub']], trustedKeysPem: [pem(B.publicKey)], retiredKeys: [a] }));
    expect(trustedKeys.keys.map(keyIdOf)).toEqual([keyIdOf(B.publicKey)]);
    expect(trustedKeys.retired).toEqual([a]);
  });

  it('refuses a configuration that retires every key, and a private key sent as PEM, without echoing it', () => {
    const a = keyIdOf(A.publicKey);
    expect(configError(() => readAgentSecrets(cfgWith({ trustedKeys: [files['a.pub']], retiredKeys: [a] })))).toMatch(/^retiredKeys: retires every trusted key .*add the new key \(trustedKeysPem\)/);
    const secret = String(A.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const message = configError(() => readAgentSecrets(cfgWith({ trustedKeys: [files['a.pub']], trustedKeysPem: [secret] })));
    expect(message).toMatch(/^trustedKeysPem\[0\]: the key is a private key/);
    expect(message).not.toContain(secret.split('\n')[1]!);
  });

  it('a remote configuration change is checked with the keys: a bad key or retiring every key is refused before it is saved', async () => {
    const stateDir = await mkdtemp(join(dir, 'state-'));
    const raw = { deviceId: 'd1', platform: { name: 'simulator', options: {} }, trustedKeys: [files['a.pub']], stateDir };
    const overrides = (await startWithOverrides(raw, {}, { run: false })).config;
    expect(overrides.check({ retiredKeys: [keyIdOf(A.publicKey)] })).toMatch(/retires every trusted key/);
    expect(overrides.check({ trustedKeysPem: ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'] })).toMatch(/is a certificate/);
    expect(overrides.check({ trustedKeysPem: [pem(B.publicKey)], retiredKeys: [keyIdOf(A.publicKey)] })).toBeUndefined();
  });
});
