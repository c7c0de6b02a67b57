// The shipped broker configuration for tests: a real Mosquitto running deploy/mosquitto/fota.conf (only its paths and
// ports swapped for a temporary folder and free ports), with the shipped ACLs, TLS on the devices' listener, and
// password files made by the real `fota broker add-device/add-hub` — or the file's client-certificate variant
// (its commented lines enabled). Also the same users on the embedded broker.

import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IClientOptions } from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../hub/embedded-broker.js';
import { startMosquitto, type Broker } from './mosquitto.js';
import { fota, ROOT } from './sim-device.js';
import { makeClientCerts } from './tls.js';


export interface FotaBroker {
  /** where devices connect (mqtts:// on Mosquitto, the one port of the embedded broker) */
  deviceUrl: string;
  /** where the hub connects (the loopback listener on Mosquitto) */
  hubUrl: string;
  /** the CA the devices' URL is verified with (undefined without TLS) */
  ca?: string;
  /** user → password, as `fota broker` made them (the hub's; the devices' unless they use certificates) */
  secrets: Record<string, string>;
  /** how `user` logs in on the devices' URL: user name and password, or a client certificate */
  login(user: string): IClientOptions;
  /** logins that must be refused on the devices' URL: none at all, a wrong password or a foreign certificate */
  badLogins: IClientOptions[];
  /** the folder holding the password files (and the secrets, one file per user: `<user>.secret`) */
  dir: string;
  /** the Mosquitto under test (undefined for the embedded broker) */
  mosquitto?: Broker;
  stop(): Promise<void>;
}

/** deploy/mosquitto/fota.conf with its paths in `dir` and its two listeners on `ports`; `certificates` enables its variant. */
export async function shippedConfig(dir: string, ports: number[], certificates = false): Promise<string> {
  let conf = await readFile(join(ROOT, 'deploy/mosquitto/fota.conf'), 'utf8');
  if (certificates) {
    const variant = /^# Client certificates instead of passwords.*\n((?:#   .*\n)+)/m.exec(conf);
    if (!variant) throw new Error('deploy/mosquitto/fota.conf lost its client-certificate lines: update test/helpers/fota-broker.ts');
    conf = conf.replace('password_file /etc/mosquitto/fota/devices.passwd\n', variant[1]!.replace(/^# {3}/gm, ''));
  }
  const out = conf
    .replace(/^listener 8883$/m, `listener ${ports[0]} 127.0.0.1`)
    .replace(/^listener 1884 127\.0\.0\.1$/m, `listener ${ports[1]} 127.0.0.1`)
    .replaceAll('/etc/mosquitto/fota/', `${dir}/`)
    .replaceAll('/etc/mosquitto/certs/', `${dir}/`);
  const settings = out.split('\n').filter((l) => !l.startsWith('#'));
  if (settings.some((l) => l.includes('/etc/')) || !out.includes(`listener ${ports[0]} `) || !out.includes(`listener ${ports[1]} `)) throw new Error('deploy/mosquitto/fota.conf changed shape: update test/helpers/fota-broker.ts');
  return out;
}

/** Makes the users with the real CLI: `devices` in devices.passwd, the hub's user in hub.passwd; returns the secrets. */
async function makeUsers(dir: string, devices: string[], file: (kind: 'devices' | 'hub') => string): Promise<Record<string, string>> {
  const secrets: Record<string, string> = {};
  const add = async (args: string[], user: string) => {
    const out = join(dir, `${user}.secret`);
    await fota([...args, '--secret-out', out]);
    secrets[user] = (await readFile(out, 'utf8')).trim();
  };
  await add(['broker', 'add-hub', '--passwd', file('hub')], 'fota-hub');
  for (const d of devices) await add(['broker', 'add-device', d, '--passwd', file('devices')], d);
  return secrets;
}

/** Mosquitto with the shipped configuration and ACLs; `devices` get passwords, or client certificates. */
export async function startShippedMosquitto(devices: string[], opts: { certificates?: boolean } = {}): Promise<FotaBroker> {
  const certs = await makeClientCerts(devices);
  const acls = { 'devices.acl': await readFile(join(ROOT, 'deploy/mosquitto/devices.acl'), 'utf8'), 'hub.acl': await readFile(join(ROOT, 'deploy/mosquitto/hub.acl'), 'utf8') };
  let secrets: Record<string, string> = {};
  const mosquitto = await startMosquitto({
    listeners: 2,
    files: { ...acls, 'fota-broker.crt': certs.cert, 'fota-broker.key': certs.key, 'fota-devices-ca.crt': certs.clientCa },
    config: async ({ dir, ports }) => {
      secrets = await makeUsers(dir, opts.certificates ? [] : devices, (kind) => join(dir, `${kind}.passwd`));
      // Mosquitto started as root reads its files as the "mosquitto" user (production: chgrp mosquitto, 0640)
      for (const kind of ['devices', 'hub']) await chmod(join(dir, `${kind}.passwd`), 0o644).catch(() => undefined);
      return shippedConfig(dir, ports, opts.certificates);
    },
  });
  const tls = { ca: certs.ca };
  const login = (user: string): IClientOptions => {
    if (!opts.certificates) return { ...tls, username: user, password: secrets[user] ?? 'none' };
    const c = certs.clients[user];
    if (!c) throw new Error(`no certificate for ${user}`);
    return { ...tls, cert: c.cert, key: c.key };
  };
  return {
    deviceUrl: `mqtts://127.0.0.1:${mosquitto.ports[0]}`,
    hubUrl: `mqtt://127.0.0.1:${mosquitto.ports[1]}`,
    ca: certs.ca,
    secrets,
    login,
    badLogins: opts.certificates
      ? [tls, { ...tls, ...certs.stranger }]
      : [tls, { ...tls, username: devices[0] ?? 'nobody', password: 'guess' }],
    dir: mosquitto.dir,
    mosquitto,
    stop: () => mosquitto.stop(),
  };
}

/** The embedded broker with a password file made by the same CLI (devices and the hub's user in one file). */
export async function startEmbeddedFotaBroker(devices: string[], dir: string): Promise<FotaBroker> {
  const file = join(dir, 'embedded.passwd');
  const secrets = await makeUsers(dir, devices, () => file);
  const broker: EmbeddedBroker = await startEmbeddedBroker('127.0.0.1', 0, { passwords: await readFile(file, 'utf8'), prefix: 'lwm2m' });
  return {
    deviceUrl: broker.url,
    hubUrl: broker.url,
    secrets,
    login: (user) => ({ username: user, password: secrets[user] ?? 'none' }),
    badLogins: [{}, { username: devices[0] ?? 'nobody', password: 'guess' }],
    dir,
    stop: () => broker.close(),
  };
}
