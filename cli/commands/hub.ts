// `fota hub`: runs the hub service in the foreground (jobs, job history in SQLite, HTTP API for `fota job`).

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseAcl } from '../../hub/broker/mosquitto-acl.js';
import { startHub } from '../../hub/hub-server.js';
import { BROKER_HELP, BROKER_OPTIONS, linkOptions } from '../broker-options.js';
import { CliError, EXIT, readArgFile, str, usageError, type Command } from '../command.js';
import { jsonLines } from '../log-line.js';

export const DEFAULT_HUB_PORT = 8640;

export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]+?)\]?:)?(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  const host = m?.[1] ?? '127.0.0.1';
  if (!m || port > 65535 || (host !== 'localhost' && isIP(host) === 0)) throw usageError(`${what} must be HOST:PORT with an IP address (got "${text}")`);
  return { host, port };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

export const hubCommand: Command = {
  name: 'hub',
  summary: 'run the hub service: device jobs, job history, HTTP API',
  usage: `Usage: fota hub [--broker URL | --mqtt-listen HOST:PORT [--mqtt-passwd FILE]] [--db PATH] [--listen HOST:PORT]
                [--token-file FILE]

Runs the hub in the foreground: schedules and follows device jobs, keeps their history in SQLite, and serves the
HTTP API that \`fota job\` and JobClient use, with a web dashboard at http://HOST:PORT/ui/ (same token;
docs/dashboard.md). A hub restarted mid-job picks its jobs up again. One hub per database: a second one on the
same --db refuses to start and names the first.

Without --broker it starts an embedded MQTT broker (aedes) on --mqtt-listen (default 127.0.0.1:1883) for devices
to connect to; with --broker it uses that broker. In production use Mosquitto with deploy/mosquitto/ (each device
logs in as itself and can use only its own topics; docs/operations.md), and give the hub its user:
--username fota-hub with the password in $FOTA_BROKER_PASSWORD.

Options:
  --db PATH             job history database (default ./fota-hub.db)
  --listen HOST:PORT    HTTP API address (default 127.0.0.1:${DEFAULT_HUB_PORT}); any other than loopback needs a token
  --token-file FILE     bearer token clients must send (or $FOTA_HUB_TOKEN)
  --mqtt-listen H:P     embedded broker address (default 127.0.0.1:1883); any other than loopback needs --mqtt-passwd
  --mqtt-passwd FILE    embedded broker: devices' and operators' passwords, a Mosquitto password file made with
                        \`fota broker add-device\` and \`fota broker add-hub\`; devices may then use only their own topics
  --mqtt-acl FILE       embedded broker: a Mosquitto acl_file instead of the fota ACL (fota broker acl prints it)
  --max-devices N       the most devices the hub keeps track of (default 100000; the least recently heard go first)
${BROKER_HELP}

Examples:
  fota hub --db /var/lib/fota/hub.db --broker mqtt://127.0.0.1:1884 --username fota-hub
  fota hub --mqtt-listen 0.0.0.0:1883 --mqtt-passwd /etc/fota/broker.passwd`,
  options: {
    ...BROKER_OPTIONS,
    db: { type: 'string' },
    listen: { type: 'string' },
    'token-file': { type: 'string' },
    'mqtt-listen': { type: 'string' },
    'mqtt-passwd': { type: 'string' },
    'mqtt-acl': { type: 'string' },
    'max-devices': { type: 'string' },
  },
  async run(args) {
    const listen = parseHostPort(str(args.values.listen) ?? `127.0.0.1:${DEFAULT_HUB_PORT}`, '--listen');
    const tokenFile = str(args.values['token-file']);
    let token = process.env.FOTA_HUB_TOKEN;
    if (tokenFile) {
      try {
        token = readFileSync(tokenFile, 'utf8').trim();
      } catch (e) {
        throw usageError(`cannot read --token-file ${tokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    if (!isLoopback(listen.host) && !token) throw usageError(`--listen ${listen.host} is reachable from other hosts: give --token-file FILE (or FOTA_HUB_TOKEN)`);
    const external = str(args.values.broker) !== undefined || process.env.FOTA_BROKER !== undefined;
    if (external && args.values['mqtt-listen'] !== undefined) throw usageError('--mqtt-listen is for the embedded broker; drop it when you give --broker');
    const link = linkOptions(args);
    const mqttListen = parseHostPort(str(args.values['mqtt-listen']) ?? '127.0.0.1:1883', '--mqtt-listen');
    const passwdFile = str(args.values['mqtt-passwd']);
    const aclFile = str(args.values['mqtt-acl']);
    if (external && (passwdFile !== undefined || aclFile !== undefined)) throw usageError('--mqtt-passwd and --mqtt-acl are for the embedded broker; your broker has its own (deploy/mosquitto/)');
    if (aclFile !== undefined && passwdFile === undefined) throw usageError('--mqtt-acl needs --mqtt-passwd: without a password file the broker knows no users');
    if (!external && !isLoopback(mqttListen.host) && passwdFile === undefined) {
      throw usageError(
        `--mqtt-listen ${mqttListen.host} is reachable from other hosts: give --mqtt-passwd FILE so that only your devices and hub can log in`,
        'make the file with: fota broker add-device DEVICE-ID --passwd FILE (once per device); or run Mosquitto with deploy/mosquitto/ (docs/operations.md)',
      );
    }
    const aclText = aclFile === undefined ? undefined : readArgFile('--mqtt-acl', aclFile);
    if (aclText !== undefined) {
      try {
        parseAcl(aclText);
      } catch (e) {
        throw usageError(`--mqtt-acl ${aclFile}: ${(e as Error).message}`);
      }
    }
    const mqttAuth = passwdFile === undefined ? undefined : { passwords: readArgFile('--mqtt-passwd', passwdFile), prefix: link.prefix, ...(aclText !== undefined ? { acl: aclText } : {}) };
    const maxText = str(args.values['max-devices']);
    const maxDevices = maxText === undefined ? undefined : Number(maxText);
    if (maxDevices !== undefined && !(Number.isInteger(maxDevices) && maxDevices >= 1)) throw usageError(`--max-devices must be a whole number of at least 1 (got "${maxText}")`);
    // every line has a level (and a journald priority prefix under systemd): cli/log-line.ts
    const log = jsonLines('fota-hub');
    // a rejection nobody handles is a bug: say so in the log (tests look for it), then exit for the service manager
    // to restart the hub, which resumes its jobs from the database and the devices' state
    process.on('unhandledRejection', (reason) => {
      log('unhandled rejection (a bug in the hub): exiting', { error: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason) });
      process.exit(70); // EX_SOFTWARE (sysexits.h)
    });
    let hub;
    try {
      hub = await startHub({
        ...(external ? { link } : { mqttListen, ...(mqttAuth ? { mqttAuth } : {}) }),
        ...(maxDevices !== undefined ? { maxDevices } : {}),
        prefix: link.prefix,
        db: str(args.values.db) ?? 'fota-hub.db',
        listen,
        ...(token ? { token } : {}),
        log,
      });
    } catch (e) {
      throw new CliError(`cannot start the hub: ${(e as Error).message}`, EXIT.failure);
    }
    console.error(`fota hub: API ${hub.url}, dashboard ${hub.url}/ui/, devices connect to ${hub.brokerUrl}; Ctrl-C stops`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    console.error('fota hub: stopping (running jobs resume on the next start)');
    await hub.close();
    // all closed: a handle a dependency left open must not keep a stopped hub alive (systemd would wait out
    // TimeoutStopSec and kill it); name what is left, for a bug report, and exit
    setTimeout(() => {
      log('stopped, but resources are still open: exiting anyway', { resources: process.getActiveResourcesInfo() });
      process.exit(EXIT.ok);
    }, 3000).unref();
    return EXIT.ok;
  },
};
