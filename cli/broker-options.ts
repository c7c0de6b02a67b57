// Broker connection options shared by every `fota` command that speaks MQTT (--broker, --prefix, TLS).

import { DEFAULT_TOPIC_PREFIX, PREFIX_RE } from '../protocol/topics.js';
import { HubLink, type HubLinkOptions } from '../hub/hub-link.js';
import { CliError, EXIT, readArgFile, str, usageError, type Options, type Parsed } from './command.js';

export const DEFAULT_BROKER = 'mqtt://127.0.0.1:1883';

export const BROKER_OPTIONS: Options = {
  broker: { type: 'string' },
  prefix: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  username: { type: 'string' },
};

export const BROKER_HELP = `Broker options:
  --broker URL     MQTT broker (default: $FOTA_BROKER or ${DEFAULT_BROKER})
  --prefix P       topic prefix (default: ${DEFAULT_TOPIC_PREFIX})
  --ca FILE        CA certificate(s) to verify an mqtts:// broker
  --cert FILE --key FILE   client certificate for mutual TLS
  --username U     MQTT user name; the password comes from $FOTA_BROKER_PASSWORD`;

/**
 * The broker URL from --broker, $FOTA_BROKER or the default. One without a scheme ("localhost:1883") is refused, not
 * guessed: plain mqtt:// would send credentials in the clear to a broker the user may have meant to reach over TLS.
 */
export function brokerUrl(args: Parsed): string {
  const given = str(args.values.broker);
  // an empty $FOTA_BROKER is unset, as shells treat it
  const url = given ?? (process.env.FOTA_BROKER || DEFAULT_BROKER);
  if (!/^(mqtts?|wss?|tcp|ssl):\/\/[^\s/]/i.test(url)) {
    const where = given !== undefined ? '--broker' : '$FOTA_BROKER';
    const hostPort = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
    throw usageError(`${where} "${url}" is not an MQTT URL`, `give the scheme: mqtt://${hostPort} (plain) or mqtts://${hostPort.replace(/:\d+$/, '')}:8883 (TLS); ws:// and wss:// also work`);
  }
  return url;
}

function readPem(what: string, path: string | undefined): string | undefined {
  return path === undefined ? undefined : readArgFile(what, path);
}

export function linkOptions(args: Parsed, extra: Partial<HubLinkOptions> = {}): HubLinkOptions {
  const prefix = str(args.values.prefix) ?? DEFAULT_TOPIC_PREFIX;
  if (!PREFIX_RE.test(prefix)) throw usageError(`--prefix "${prefix}" is not a valid topic prefix`);
  const opts: HubLinkOptions = { url: brokerUrl(args), prefix, ...extra };
  const ca = readPem('--ca', str(args.values.ca));
  const cert = readPem('--cert', str(args.values.cert));
  const key = readPem('--key', str(args.values.key));
  if (ca !== undefined) opts.ca = ca;
  if (cert !== undefined) opts.cert = cert;
  if (key !== undefined) opts.key = key;
  const username = str(args.values.username);
  if (username !== undefined) opts.username = username;
  if (process.env.FOTA_BROKER_PASSWORD) opts.password = process.env.FOTA_BROKER_PASSWORD;
  return opts;
}

export async function connectLink(args: Parsed, extra: Partial<HubLinkOptions> = {}): Promise<HubLink> {
  try {
    return await HubLink.connect(linkOptions(args, extra));
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError((e as Error).message, EXIT.failure);
  }
}
