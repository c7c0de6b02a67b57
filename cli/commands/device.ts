// `fota device ID read|write|exec|observe PATH` and `fota device list`: LwM2M operations on one device.
// `read` prints the bare value (JSON for structured values); failures exit non-zero with code and reason on stderr.

import { isSuccess } from '../../protocol/lwm2m.js';
import type { JsonValue, Response } from '../../protocol/messages.js';
import { parsePath } from '../../protocol/paths.js';
import { redactUrl } from '../../protocol/redact.js';
import { isValidEndpoint } from '../../protocol/topics.js';
import { describeCode, RequestTimeout, type HubLink } from '../../hub/hub-link.js';
import { BROKER_HELP, BROKER_OPTIONS, brokerUrl, connectLink } from '../broker-options.js';
import { namedLines } from '../lwm2m-text.js';
import { CliError, EXIT, parseDuration, str, usageError, type Command, type Parsed } from '../command.js';

const TIMEOUT_HELP = '  --timeout SECONDS   how long to wait for the device (default 10)';

function timeoutMs(args: Parsed): number {
  return parseDuration(str(args.values.timeout) ?? '10', '--timeout') * 1000;
}

/** `fota device ID VERB …` → positionals [ID, …rest] for parseArgs. */
function matchVerb(verb: string) {
  return (argv: string[]) => (argv[0] === 'device' && argv[2] === verb && argv[1] !== undefined ? [argv[1], ...argv.slice(3)] : undefined);
}

function checkTarget(args: Parsed): { ep: string; path: string } {
  const [ep, path] = args.positionals as [string, string];
  if (!isValidEndpoint(ep)) throw usageError(`"${ep}" is not a valid device id`);
  if (!parsePath(path)) throw usageError(`"${path}" is not an LwM2M path; use /object/instance/resource, e.g. /3/0/3`);
  return { ep, path };
}

export function formatValue(v: JsonValue | undefined): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Parses a CLI value: JSON when it parses (numbers, true, objects), else the text itself. */
export function parseValue(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

async function withLink<T>(args: Parsed, fn: (link: HubLink) => Promise<T>): Promise<T> {
  const link = await connectLink(args);
  try {
    return await fn(link);
  } catch (e) {
    if (e instanceof RequestTimeout) throw new CliError(e.message, EXIT.timeout);
    throw e;
  } finally {
    await link.close();
  }
}

function answer(res: Response, print: (r: Response) => void): number {
  if (!isSuccess(res.code)) throw new CliError(`${describeCode(res.code)}${res.reason ? `: ${res.reason}` : ''}`, EXIT.failure);
  print(res);
  return EXIT.ok;
}

const common = { ...BROKER_OPTIONS, timeout: { type: 'string' as const }, json: { type: 'boolean' as const } };

const JSON_HELP = '  --json              print the answer as one JSON object';

/** The answer to a write or execute: the LwM2M code on stderr, or one JSON object on stdout with --json. */
function done(args: Parsed, ep: string, path: string) {
  return (r: Response) => (args.values.json ? console.log(JSON.stringify({ device: ep, path, code: r.code })) : console.error(describeCode(r.code)));
}

const read: Command = {
  name: 'device read',
  summary: 'read a resource, instance or object (prints the value)',
  usage: `Usage: fota device ID read PATH [--timeout S] [broker options]

Reads an LwM2M path from device ID and prints the value: bare for a single resource; an instance or object as
named resources on a terminal ("State: Idle (0)"), as JSON otherwise.
Example: fota device sim-1 read /3/0/3

${TIMEOUT_HELP}
${JSON_HELP}
${BROKER_HELP}`,
  options: common,
  positionals: { min: 2, max: 2 },
  match: matchVerb('read'),
  run: (args) => {
    const { ep, path } = checkTarget(args);
    const json = args.values.json === true;
    // a resource prints bare (for scripts: $(fota device ID read /3/0/3)); an instance is named on a terminal
    const print = (r: Response) =>
      console.log(json ? JSON.stringify({ device: ep, path, code: r.code, value: r.value ?? null }) : parsePath(path)?.resource === undefined && process.stdout.isTTY ? namedLines(path, r.value).join('\n') : formatValue(r.value));
    return withLink(args, async (link) => answer(await link.request(ep, { op: 'read', path }, timeoutMs(args)), print));
  },
};

const write: Command = {
  name: 'device write',
  summary: 'write a resource (VALUE is JSON when it parses, else text)',
  usage: `Usage: fota device ID write PATH VALUE [--timeout S] [broker options]

Writes VALUE to a resource. VALUE is taken as JSON when it parses (42, true, "text"), otherwise as text.
Examples: fota device sim-1 write /5/0/1 http://10.0.0.2:8080/fw-3.0.0.fota
          fota device sim-1 write /3/0/15 Europe/Berlin

${TIMEOUT_HELP}
${JSON_HELP}
${BROKER_HELP}`,
  options: common,
  positionals: { min: 3, max: 3 },
  match: matchVerb('write'),
  run: (args) => {
    const { ep, path } = checkTarget(args);
    const value = parseValue(args.positionals[2] as string);
    return withLink(args, async (link) => answer(await link.request(ep, { op: 'write', path, value }, timeoutMs(args)), done(args, ep, path)));
  },
};

const exec: Command = {
  name: 'device exec',
  summary: 'execute a resource (Update /5/0/2, Cancel /5/0/10, Reboot /3/0/4)',
  usage: `Usage: fota device ID exec PATH [ARGS] [--timeout S] [broker options]

Executes a resource, optionally with an argument string.
Examples: fota device sim-1 exec /5/0/2      (install the downloaded firmware)
          fota device sim-1 exec /3/0/4      (reboot)

${TIMEOUT_HELP}
${JSON_HELP}
${BROKER_HELP}`,
  options: common,
  positionals: { min: 2, max: 3 },
  match: matchVerb('exec'),
  run: (args) => {
    const { ep, path } = checkTarget(args);
    const a = args.positionals[2];
    const body = a === undefined ? { op: 'execute' as const, path } : { op: 'execute' as const, path, args: a };
    return withLink(args, async (link) => answer(await link.request(ep, body, timeoutMs(args)), done(args, ep, path)));
  },
};

const observe: Command = {
  name: 'device observe',
  summary: 'stream changes of a path until Ctrl-C',
  usage: `Usage: fota device ID observe PATH [--timeout S] [--json] [broker options]

Observes PATH and prints each change with the resources named ("State: Downloading (1)"): the whole value first,
then only what changed. With --json, one JSON object per notification (numeric resource ids, as on the wire).
Survives device reboots: when the device registers again the observation is re-established. When the connection
to the broker is lost it says so and exits 1 (Ctrl-C exits 0).
Example: fota device sim-1 observe /5/0

${TIMEOUT_HELP}
  --json              print notifications as JSON lines
${BROKER_HELP}`,
  options: common,
  positionals: { min: 2, max: 2 },
  match: matchVerb('observe'),
  run: (args) => {
    const { ep, path } = checkTarget(args);
    const json = args.values.json === true;
    let shown = new Map<string, string>();
    const print = (value: JsonValue | undefined, time: number) => {
      const at = new Date(time).toISOString();
      if (json) return console.log(JSON.stringify({ device: ep, path, value, time: at }));
      // after the first notification only the resources that changed (an instance is notified whole)
      const lines = namedLines(path, value);
      const changed = lines.filter((l) => shown.get(l.slice(0, l.indexOf(':'))) !== l);
      shown = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')), l]));
      if (changed.length > 0) console.log(`${at} ${ep} ${path}\n${changed.map((l) => `  ${l}`).join('\n')}`);
    };
    return withLink(args, async (link) => {
      let token = '';
      const start = async () => {
        const res = await link.request(ep, { op: 'observe', path }, timeoutMs(args));
        if (!isSuccess(res.code)) throw new CliError(`${describeCode(res.code)}${res.reason ? `: ${res.reason}` : ''}`);
        token = res.id;
        print(res.value, Date.now());
      };
      let lost: (() => void) | undefined;
      const off = link.on({
        notification: (from, n) => {
          if (from === ep && n.token === token) print(n.value, n.time);
        },
        registration: (from, reg) => {
          // a new registration drops the device's observations (LwM2M): observe again
          if (from === ep && reg.op === 'register' && token) void start().catch((e: Error) => console.error(`re-observe failed: ${e.message}`));
        },
        link: (up) => {
          if (!up) lost?.();
        },
      });
      await start();
      const ended = await new Promise<'stopped' | 'lost'>((resolve) => {
        lost = () => resolve('lost');
        process.once('SIGINT', () => resolve('stopped'));
        process.once('SIGTERM', () => resolve('stopped'));
      });
      off();
      if (ended === 'lost') throw new CliError(`the connection to the broker at ${redactUrl(brokerUrl(args))} was lost; the observation of ${ep} ${path} ended`, EXIT.failure, 'run it again once the broker is back');
      await link.request(ep, { op: 'cancel-observe', path, token }, 2000).catch(() => undefined);
      return EXIT.ok;
    });
  },
};

interface Row {
  id: string;
  online: boolean | undefined;
  agent: string;
  registered: string;
}

const list: Command = {
  name: 'device list',
  summary: 'list the devices known to the broker (registration and presence)',
  usage: `Usage: fota device list [--json] [--wait S] [broker options]

Lists every device that registered under the topic prefix, with its presence and agent version.
  --json       one JSON array
  --wait S     how long to collect retained registrations (default 1)
${BROKER_HELP}`,
  options: { ...BROKER_OPTIONS, json: { type: 'boolean' }, wait: { type: 'string' } },
  run: (args) =>
    withLink(args, async (link) => {
      const rows = new Map<string, Row>();
      const row = (id: string) => rows.get(id) ?? rows.set(id, { id, online: undefined, agent: '', registered: '' }).get(id)!;
      link.on({
        registration: (ep, reg) => Object.assign(row(ep), { agent: `${reg.agent.name} ${reg.agent.version}`, registered: new Date(reg.time).toISOString() }),
        presence: (ep, p) => (row(ep).online = p.online),
      });
      await link.followRegistrations();
      await new Promise((r) => setTimeout(r, parseDuration(str(args.values.wait) ?? '1', '--wait') * 1000));
      const all = [...rows.values()].sort((a, b) => a.id.localeCompare(b.id));
      if (args.values.json) console.log(JSON.stringify(all, null, 2));
      else if (all.length === 0) console.error('no devices registered (start one with: fota sim run --dir DIR --id ID)');
      else {
        const w = Math.max(6, ...all.map((r) => r.id.length));
        console.log(`${'DEVICE'.padEnd(w)}  STATUS   AGENT             REGISTERED`);
        for (const r of all) console.log(`${r.id.padEnd(w)}  ${(r.online === undefined ? '?' : r.online ? 'online' : 'offline').padEnd(7)}  ${r.agent.padEnd(16)}  ${r.registered}`);
      }
      return EXIT.ok;
    }),
};

export const DEVICE_COMMANDS: Command[] = [list, read, write, exec, observe];
