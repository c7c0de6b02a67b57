// `fota hub`: runs the hub service in the foreground (jobs, job history in SQLite, HTTP API for `fota job`).

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { startHub } from '../../hub/hub-server.js';
import { BROKER_HELP, BROKER_OPTIONS, linkOptions } from '../broker-options.js';
import { CliError, EXIT, str, usageError, type Command } from '../command.js';
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
  usage: `Usage: fota hub [--broker URL | --mqtt-listen HOST:PORT] [--db PATH] [--listen HOST:PORT] [--token-file FILE]

Runs the hub in the foreground: schedules and follows device jobs, keeps their history in SQLite, and serves the
HTTP API that \`fota job\` and JobClient use. A hub restarted mid-job picks its jobs up again.

Without --broker it starts an embedded MQTT broker (aedes) on --mqtt-listen (default 127.0.0.1:1883) for devices
to connect to; with --broker it uses that broker (Mosquitto, EMQX, …).

Options:
  --db PATH             job history database (default ./fota-hub.db)
  --listen HOST:PORT    HTTP API address (default 127.0.0.1:${DEFAULT_HUB_PORT}); any other than loopback needs a token
  --token-file FILE     bearer token clients must send (or $FOTA_HUB_TOKEN)
  --mqtt-listen H:P     embedded broker address (default 127.0.0.1:1883; 0.0.0.0:1883 for devices on other hosts)
${BROKER_HELP}

Example:
  fota hub --db /var/lib/fota/hub.db --broker mqtts://broker.example:8883 --ca /etc/fota/ca.pem`,
  options: { ...BROKER_OPTIONS, db: { type: 'string' }, listen: { type: 'string' }, 'token-file': { type: 'string' }, 'mqtt-listen': { type: 'string' } },
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
        ...(external ? { link } : { mqttListen }),
        prefix: link.prefix,
        db: str(args.values.db) ?? 'fota-hub.db',
        listen,
        ...(token ? { token } : {}),
        log,
      });
    } catch (e) {
      throw new CliError(`cannot start the hub: ${(e as Error).message}`, EXIT.failure);
    }
    console.error(`fota hub: API ${hub.url}, devices connect to ${hub.brokerUrl}; Ctrl-C stops`);
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
