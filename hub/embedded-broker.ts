// The hub's embedded MQTT broker (aedes, MQTT 3.1.1): the zero-setup default for demos and small labs.
// Production fleets point the hub at their own broker (Mosquitto with deploy/mosquitto/) instead.
// Secure by default: anywhere but loopback it refuses to start without a password file, and with one it applies the
// same rules as the shipped Mosquitto configuration: Mosquitto's password file, the fota ACL (or a given acl_file),
// and a device's client id forced to its user name (Mosquitto's use_username_as_clientid), so that no one can take
// a device's session. The hub's own connection logs in with a secret made for this process only.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import { allows, parseAcl, type Acl } from './broker/mosquitto-acl.js';
import { devicesAcl, hubAcl, HUB_USER } from './broker/fota-acl.js';
import { parsePasswordFile, verifyPassword } from './broker/password-file.js';

export interface EmbeddedBroker {
  url: string;
  port: number;
  /** what the hub's own link logs in with (undefined when the broker takes anyone) */
  hubCredentials?: { username: string; password: string };
  close(): Promise<void>;
}

export interface EmbeddedBrokerAuth {
  /** the text of a Mosquitto password file (fota broker add-device / add-hub write one) */
  passwords: string;
  /** the text of a Mosquitto acl_file; default: the fota ACLs (devices' and hub's) for `prefix` */
  acl?: string;
  prefix: string;
}

/** True for 127.0.0.0/8, ::1 and "localhost": the only addresses the broker may serve without credentials. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function authError(code: 4 | 5, message: string): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode: code });
}

/** aedes hooks that enforce `auth`; the hub's own client (internal) may do anything. */
function guard(auth: EmbeddedBrokerAuth, internal: { username: string; password: string }): Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'> {
  const users = parsePasswordFile(auth.passwords);
  const acl: Acl = parseAcl(auth.acl ?? `${hubAcl(auth.prefix)}${devicesAcl(auth.prefix)}`);
  const trusted = new WeakSet<Client>();
  const who = (c: Client) => ({ username: (c as Client & { fotaUser?: string }).fotaUser, clientId: c.id });
  return {
    authenticate(client, username, password, done) {
      const pw = password?.toString('utf8') ?? '';
      if (username === internal.username && pw === internal.password) {
        trusted.add(client);
        return done(null, true);
      }
      if (username === undefined || username === '') return done(authError(5, 'not authorized: this broker needs a user name and password'), false);
      if (!verifyPassword(users, username, pw)) return done(authError(4, 'bad user name or password'), false);
      (client as Client & { fotaUser?: string }).fotaUser = username;
      // a device's session is its own: its client id is its user name (a user with ACL lines of its own, the hub's
      // or an operator's, keeps its unique client id)
      if (!acl.users.has(username)) client.id = username;
      done(null, true);
    },
    authorizePublish(client, packet, done) {
      if (packet.topic.startsWith('$SYS/')) return done(new Error('$SYS/ topics are reserved'));
      if (client === null || trusted.has(client) || allows(acl, who(client), packet.topic, 'write')) return done(null);
      // aedes closes the connection of a client whose publish is refused (Mosquitto drops the message silently)
      done(new Error(`not authorized to publish to ${packet.topic}`));
    },
    authorizeSubscribe(_client, sub, done) {
      // as Mosquitto 2.0: every message is checked when it would be delivered (authorizeForward)
      done(null, sub);
    },
    authorizeForward(client, packet) {
      return trusted.has(client) || allows(acl, who(client), packet.topic, 'read') ? packet : null;
    },
  };
}

/**
 * Starts aedes on host:port (port 0 = any free port). Throws before listening when `host` is not a loopback address
 * and no `auth` is given, or when the ACL cannot be parsed; rejects when the port is taken, saying so.
 */
export async function startEmbeddedBroker(
  host: string,
  port: number,
  auth?: EmbeddedBrokerAuth,
  log?: (msg: string, fields?: Record<string, unknown>) => void,
): Promise<EmbeddedBroker> {
  if (!auth && !isLoopback(host)) {
    throw new Error(
      `refusing to run the embedded MQTT broker on ${host} without credentials: any host that reaches it could pose as a device or as the hub. ` +
        'Give --mqtt-passwd FILE (fota broker add-device/add-hub make it), listen on 127.0.0.1, or use Mosquitto with deploy/mosquitto/ (docs/operations.md)',
    );
  }
  const internal = { username: HUB_USER, password: randomBytes(24).toString('base64url') };
  const aedes = await Aedes.createBroker(auth ? guard(auth, internal) : {});
  const server = net.createServer(aedes.handle);
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    const fail = (e: NodeJS.ErrnoException) =>
      // the broker's own timers would keep a hub that could not start alive for ever
      aedes.close(() =>
        reject(new Error(e.code === 'EADDRINUSE' ? `port ${port} on ${host} is in use (another broker?); use --mqtt-listen HOST:PORT or --broker URL` : e.message)),
      );
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  // an error once listening (EMFILE on accept…) must be heard: an 'error' event nobody listens to ends the process
  server.on('error', (e) => log?.('embedded broker: server error', { error: e.message }));
  const actual = (server.address() as net.AddressInfo).port;
  return {
    url: `mqtt://${host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host}:${actual}`,
    port: actual,
    ...(auth ? { hubCredentials: internal } : {}),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}
