// Throwaway TLS material for HTTPS tests: a private CA and a server certificate for 127.0.0.1 / localhost, made
// with the openssl CLI (execFile, argument arrays) in a temp dir that is removed before returning.

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

/**
 * Makes a fresh CA (EC P-256, valid 2 days) and a server certificate signed by it with subjectAltName
 * IP:127.0.0.1 and DNS:localhost. Takes ~50 ms; call it once per test file. Throws when openssl fails.
 */
export async function makeTestCerts(): Promise<TestCerts> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fota-tls-'));
  const at = (name: string) => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    await run('openssl', [
      'req', '-x509', ...ec, '-keyout', at('ca.key'), '-out', at('ca.crt'), '-days', '2', '-subj', '/CN=fota test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await run('openssl', ['req', ...ec, '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', '/CN=localhost']);
    await writeFile(
      at('server.ext'),
      [
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=serverAuth',
        'subjectKeyIdentifier=hash',
        'authorityKeyIdentifier=keyid,issuer',
        '',
      ].join('\n'),
    );
    await run('openssl', [
      'x509', '-req', '-in', at('server.csr'), '-CA', at('ca.crt'), '-CAkey', at('ca.key'), '-set_serial', '1',
      '-days', '2', '-extfile', at('server.ext'), '-out', at('server.crt'),
    ]);
    const [ca, key, cert] = await Promise.all(['ca.crt', 'server.key', 'server.crt'].map((f) => readFile(at(f), 'utf8')));
    return { ca: ca!, key: key!, cert: cert! };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
