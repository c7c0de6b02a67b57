// Throwaway TLS material for tests: private CAs, a server certificate for 127.0.0.1 / localhost, client
// certificates by common name, made with the openssl CLI (execFile, argument arrays) in a temp dir that is removed
// before returning. PEM strings only leave here.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** PEM strings: `ca` is what a client must trust; `key` + `cert` go to https.createServer. */
export interface TestCerts {
  ca: string;
  key: string;
  cert: string;
}

export interface KeyPair {
  cert: string;
  key: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
const SERVER_EXT = ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth'];

/** A scratch folder with a CA-making and a certificate-issuing openssl, each certificate valid 2 days (EC P-256). */
async function withCaDir<T>(use: (ops: { ca(name: string): Promise<void>; issue(name: string, cn: string, by: string, ext: string[]): Promise<void>; pem(name: string): Promise<KeyPair> }) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fota-tls-'));
  const at = (name: string) => path.join(dir, name);
  let serial = 1;
  const ops = {
    ca: async (name: string) => {
      await run('openssl', [
        'req', '-x509', ...EC, '-keyout', at(`${name}.key`), '-out', at(`${name}.crt`), '-days', '2', '-subj', `/CN=${name}`,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ]);
    },
    issue: async (name: string, cn: string, by: string, ext: string[]) => {
      await run('openssl', ['req', ...EC, '-keyout', at(`${name}.key`), '-out', at(`${name}.csr`), '-subj', `/CN=${cn}`]);
      await writeFile(at(`${name}.ext`), [...ext, 'basicConstraints=CA:FALSE', 'subjectKeyIdentifier=hash', 'authorityKeyIdentifier=keyid,issuer', ''].join('\n'));
      await run('openssl', [
        'x509', '-req', '-in', at(`${name}.csr`), '-CA', at(`${by}.crt`), '-CAkey', at(`${by}.key`), '-set_serial', String(serial++),
        '-days', '2', '-extfile', at(`${name}.ext`), '-out', at(`${name}.crt`),
      ]);
    },
    pem: async (name: string) => ({ cert: await readFile(at(`${name}.crt`), 'utf8'), key: await readFile(at(`${name}.key`), 'utf8') }),
  };
  try {
    return await use(ops);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Makes a fresh CA and a server certificate signed by it with subjectAltName IP:127.0.0.1 and DNS:localhost. Takes
 * ~50 ms; call it once per test file. Throws when openssl fails.
 */
export async function makeTestCerts(): Promise<TestCerts> {
  return withCaDir(async ({ ca, issue, pem }) => {
    await ca('test-ca');
    await issue('server', 'localhost', 'test-ca', SERVER_EXT);
    const server = await pem('server');
    return { ca: (await pem('test-ca')).cert, ...server };
  });
}

/**
 * A server certificate as makeTestCerts, plus a clients' CA (`clientCa`, what a broker with require_certificate
 * trusts) with one client certificate per common name, and a `stranger`: a certificate for the first name issued by
 * another CA (it must be refused).
 */
export async function makeClientCerts(names: string[]): Promise<TestCerts & { clientCa: string; clients: Record<string, KeyPair>; stranger: KeyPair }> {
  return withCaDir(async ({ ca, issue, pem }) => {
    await Promise.all([ca('server-ca'), ca('clients-ca'), ca('stranger-ca')]);
    await issue('server', 'localhost', 'server-ca', SERVER_EXT);
    const clients: Record<string, KeyPair> = {};
    for (const n of names) {
      await issue(`client-${n}`, n, 'clients-ca', ['extendedKeyUsage=clientAuth']);
      clients[n] = await pem(`client-${n}`);
    }
    await issue('stranger', names[0] ?? 'stranger', 'stranger-ca', ['extendedKeyUsage=clientAuth']);
    return { ca: (await pem('server-ca')).cert, ...(await pem('server')), clientCa: (await pem('clients-ca')).cert, clients, stranger: await pem('stranger') };
  });
}
