// `fota sim image`, `fota sim run`, `fota sim status`: simulated firmware images and simulated devices (a device in
// a folder, booted by the simulated U-Boot, running the real agent). docs/platforms.md describes the folder and boot.

import { existsSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isValidEndpoint, PREFIX_RE } from '../../protocol/topics.js';
import { readBootRecord, describeBoot } from '../../platform/simulator/bootloader.js';
import { ensureSimDevice, readSimDevice, simBootEnv, simPaths, SimDeviceError, writeJsonAtomic } from '../../platform/simulator/device-dir.js';
import { makeSimImage, readSimImageHeader, SimImageError } from '../../platform/simulator/image-header.js';
import { AGENT_NODE_FLAGS } from '../../platform/agent-runtime.js';
import { runSimulatedDevice } from '../../platform/simulator/sim-runner.js';
import { SIM_DEFAULT_IMAGE_SIZE, SIM_DEFAULT_SLOT_CAPACITY, SIM_DEVICE_TYPE } from '../../platform/simulator/constants.js';
import { brokerUrl, DEFAULT_BROKER } from '../broker-options.js';
import { loadPublicKey } from '../package/package-tools.js';
import { CliError, EXIT, parseSize, requireOpt, str, strs, usageError, type Command, type Parsed } from '../command.js';

/** Turns the simulator's operator-facing errors into one-line CLI failures. */
async function sim<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof SimDeviceError || e instanceof SimImageError) throw new CliError(e.message, EXIT.failure);
    throw e;
  }
}

const VERSION_RE = /^[\x21-\x7e]{1,128}$/;

function version(args: Parsed, fallback?: string): string {
  const v = str(args.values.version) ?? fallback;
  if (v === undefined) throw usageError('--version is required');
  if (!VERSION_RE.test(v)) throw usageError(`--version "${v}" must be 1-128 printable characters without spaces`);
  return v;
}

export const simImageCommand: Command = {
  name: 'sim image',
  summary: 'make a simulated firmware image (for packages and simulated devices)',
  usage: `Usage: fota sim image --version V --size SIZE [--broken] [--json] -o IMG

Writes a simulated firmware image of exactly SIZE bytes: a 4 KiB header (magic, firmware version, size, broken
flag) and deterministic pseudo-random content. A simulated device boots it as firmware V; a --broken image never
reaches the agent, so after bootlimit (3) trial boots the device falls back to its previous slot.

Options:
  --version V      firmware version the image boots as (e.g. 2.0.0)
  --size SIZE      image size: 4096, 512K, 64M, 1G (at least 4K)
  --broken         the simulated kernel fails to boot this image
  -o, --out IMG    output file (overwritten)
  --json           print the image's file, version, size and broken flag as JSON

Example:
  fota sim image --version 2.0.0 --size 64M -o fw-2.0.0.img`,
  options: { version: { type: 'string' }, size: { type: 'string' }, broken: { type: 'boolean' }, out: { type: 'string', short: 'o' }, json: { type: 'boolean' } },
  async run(args) {
    const v = version(args);
    const size = parseSize(requireOpt(args, 'size'), '--size');
    if (size < 4096) throw usageError('--size must be at least 4K (the image header)');
    const out = requireOpt(args, 'out');
    const h = await sim(() => makeSimImage({ version: v, size, broken: args.values.broken === true, out }));
    if (args.values.json) return (console.log(JSON.stringify({ out, ...h })), EXIT.ok);
    console.log(`wrote ${out}: firmware ${h.version}, ${h.size} bytes${h.broken ? ', broken (never boots)' : ''}`);
    return EXIT.ok;
  },
};

/** The agent launcher: $FOTA_AGENT_BIN, else bin/fota-agent.js found upwards from this file (dist/ or the sources). */
export function findAgentBin(): string {
  const override = process.env.FOTA_AGENT_BIN;
  if (override) return resolve(override);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'bin', 'fota-agent.js');
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new CliError('cannot find bin/fota-agent.js next to this fota installation', EXIT.failure, 'set FOTA_AGENT_BIN to the agent launcher');
    dir = up;
  }
}

/** The agent's Node flags: AGENT_NODE_FLAGS, or $FOTA_AGENT_NODE_FLAGS (space-separated; empty for none) to experiment. */
function agentNodeFlags(): readonly string[] {
  const override = process.env.FOTA_AGENT_NODE_FLAGS;
  return override === undefined ? AGENT_NODE_FLAGS : override.split(/\s+/).filter(Boolean);
}

async function readable(path: string, what: string): Promise<string> {
  const abs = resolve(path);
  await access(abs).catch(() => {
    throw usageError(`cannot read ${what} ${abs}`);
  });
  return abs;
}

export const simRunCommand: Command = {
  name: 'sim run',
  summary: 'run a simulated device (created on first use) in the foreground',
  usage: `Usage: fota sim run --dir DIR --id ID [--broker URL] [--trust NAME.pub ...] [--allow-unsigned]
                    [--version V] [--device-type T] [--prefix P] [--slot-size SIZE] [--image-size SIZE]

Runs a simulated A/B device kept in DIR: on first use DIR is created with slot A holding a generated image of
firmware V (default 1.0.0). Each boot runs the simulated U-Boot (boot_part, upgrade_available, bootcount,
bootlimit=3) and then the real agent (bin/fota-agent.js) with DIR/agent.json. When the agent reboots the device,
it boots again; a broken image counts as a failed boot. Stop it with Ctrl-C or SIGTERM.

Options:
  --dir DIR            the device folder (created on first use)
  --id ID              the device id (LwM2M endpoint name)
  --broker URL         MQTT broker (default: $FOTA_BROKER or ${DEFAULT_BROKER})
  --trust NAME.pub     a public key packages must be signed with (repeatable)
  --allow-unsigned     accept unsigned packages (lab use only)
  --version V          firmware version of slot A on first use (default 1.0.0)
  --device-type T      device type packages must list (default: ${SIM_DEVICE_TYPE})
  --prefix P           MQTT topic prefix (default: the agent's, lwm2m)
  --slot-size SIZE     bytes per slot, sparse (default ${SIM_DEFAULT_SLOT_CAPACITY / 1024 / 1024}M); slots must hold your biggest image
  --image-size SIZE    size of the generated first image (default ${SIM_DEFAULT_IMAGE_SIZE / 1024 / 1024}M)
  --agent-set K=V      set an agent configuration key in DIR/agent.json (repeatable; V is JSON when it parses),
                       e.g. --agent-set health.command='["/bin/false"]' --agent-set download.checkpointMiB=1

Environment: FOTA_AGENT_BIN overrides the agent launcher; FOTA_AGENT_NODE_FLAGS the agent's Node flags (default
"${AGENT_NODE_FLAGS.join(' ')}", docs/operations.md).

Example:
  fota sim run --dir /tmp/dev1 --id dev1 --broker mqtt://127.0.0.1:1883 --trust keys/release.pub`,
  options: {
    dir: { type: 'string' },
    id: { type: 'string' },
    broker: { type: 'string' },
    trust: { type: 'string', multiple: true },
    'allow-unsigned': { type: 'boolean' },
    version: { type: 'string' },
    'device-type': { type: 'string' },
    prefix: { type: 'string' },
    'slot-size': { type: 'string' },
    'image-size': { type: 'string' },
    'agent-set': { type: 'string', multiple: true },
  },
  async run(args) {
    const dir = resolve(requireOpt(args, 'dir'));
    const id = requireOpt(args, 'id');
    if (!isValidEndpoint(id)) throw usageError(`--id "${id}" must be letters, digits, . _ : - (max 128), starting with a letter or digit`);
    const broker = brokerUrl(args);
    const trusted = await Promise.all(strs(args.values.trust).map((k) => readable(k, 'trusted key')));
    // a private key is refused here, before it is written into the device's configuration
    for (const k of trusted) await loadPublicKey(k).catch((e: unknown) => {
      throw usageError(`--trust ${(e as Error).message}`);
    });
    const allowUnsigned = args.values['allow-unsigned'] === true;
    if (trusted.length === 0 && !allowUnsigned) throw usageError('give at least one --trust KEY.pub (or --allow-unsigned for lab use)', 'make a key pair with: fota keygen -o keys/release');
    const prefix = str(args.values.prefix);
    if (prefix !== undefined && !PREFIX_RE.test(prefix)) throw usageError(`--prefix "${prefix}" is not a valid topic prefix`);
    const deviceTypeFlag = str(args.values['device-type']);
    const slotSize = str(args.values['slot-size']);
    const imageSize = str(args.values['image-size']);
    const { info, created, paths } = await sim(() =>
      ensureSimDevice({
        dir,
        id,
        version: version(args, '1.0.0'),
        ...(deviceTypeFlag ? { deviceType: deviceTypeFlag } : {}),
        ...(slotSize ? { slotCapacity: parseSize(slotSize, '--slot-size') } : {}),
        ...(imageSize ? { imageSize: parseSize(imageSize, '--image-size') } : {}),
      }),
    );
    if (!created && str(args.values.version)) console.log(`note: ${dir} already exists; --version only applies when a device is created`);
    const factory = await readSimImageHeader(paths.factory).catch(() => undefined);
    console.log(`device ${info.id} in ${dir} (${created ? 'created' : 'existing'}; slots of ${info.slotCapacity} bytes; factory firmware ${factory?.version ?? '?'})`);
    const deviceType = deviceTypeFlag ?? info.deviceType;
    let agentConfig: Record<string, unknown> = {
      deviceId: id,
      broker: { url: broker },
      ...(prefix ? { topicPrefix: prefix } : {}),
      platform: { name: 'simulator', options: { dir } },
      stateDir: paths.state,
      trustedKeys: trusted,
      allowUnsigned,
      device: { deviceType, serial: id, model: 'fota simulated device', manufacturer: 'fota' },
    };
    for (const kv of strs(args.values['agent-set'])) agentConfig = setKey(agentConfig, kv);
    // 0600: it may hold the broker password (--agent-set broker.password=…); it was 0644, readable by every local user
    await writeJsonAtomic(paths.agentConfig, agentConfig, 0o600);
    const agentArgv = [process.execPath, ...agentNodeFlags(), findAgentBin(), '--config', paths.agentConfig];
    const power = new AbortController();
    const onSignal = (sig: NodeJS.Signals) => {
      if (!power.signal.aborted) console.log(`${sig}: powering the device off`);
      power.abort();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      const result = await runSimulatedDevice({ dir, agentArgv, signal: power.signal });
      if (result.reason === 'stopped') return EXIT.ok;
      return result.reason === 'agent-config-error' ? EXIT.config : EXIT.failure;
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  },
};

/** Applies "a.b.c=VALUE" to a config object (VALUE as JSON when it parses). The agent validates the result. */
function setKey(config: Record<string, unknown>, kv: string): Record<string, unknown> {
  const eq = kv.indexOf('=');
  const key = kv.slice(0, eq);
  if (eq <= 0 || !/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/.test(key)) throw usageError(`--agent-set "${kv}" must look like key.path=VALUE`);
  let value: unknown = kv.slice(eq + 1);
  try {
    value = JSON.parse(value as string);
  } catch {
    // plain text
  }
  const out = { ...config };
  let node: Record<string, unknown> = out;
  const parts = key.split('.');
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    node = node[part] = typeof next === 'object' && next !== null && !Array.isArray(next) ? { ...(next as Record<string, unknown>) } : {};
  }
  node[parts.at(-1)!] = value;
  return out;
}

export const simStatusCommand: Command = {
  name: 'sim status',
  summary: "show a simulated device's slots, boot environment and last boot",
  usage: `Usage: fota sim status --dir DIR [--json]

Reads the device folder (it may be running): the last boot (run/boot.json), the U-Boot variables of the scheme,
and the firmware in each slot and in the factory image.

Example:
  fota sim status --dir /tmp/dev1`,
  options: { dir: { type: 'string' }, json: { type: 'boolean' } },
  async run(args) {
    const dir = resolve(requireOpt(args, 'dir'));
    const info = await sim(() => readSimDevice(dir));
    const paths = simPaths(dir);
    const header = (file: string) => readSimImageHeader(file).then((h) => h, () => undefined);
    const env = await simBootEnv(dir).read().catch((e: unknown) => ({ error: (e as Error).message }));
    const boot = await readBootRecord(dir).catch(() => undefined);
    const status = { device: info, lastBoot: boot ?? null, env, slots: { A: (await header(paths.slots.A)) ?? null, B: (await header(paths.slots.B)) ?? null }, factory: (await header(paths.factory)) ?? null };
    if (args.values.json) {
      console.log(JSON.stringify(status, null, 2));
      return EXIT.ok;
    }
    const fw = (h: { version: string; size: number; broken: boolean } | null) => (h ? `firmware ${h.version}, ${h.size} bytes${h.broken ? ', broken' : ''}` : 'no image');
    console.log(`device ${info.id} (${info.deviceType}), created ${info.createdAt}, slots of ${info.slotCapacity} bytes`);
    console.log(boot ? `last ${describeBoot(boot)} (boot #${boot.seq} at ${boot.bootedAt})` : 'never booted');
    const vars = env as Record<string, string>;
    console.log('error' in env ? `env: ${String(vars['error'])}` : `env: ${['boot_part', 'upgrade_available', 'bootcount', 'bootlimit'].map((k) => `${k}=${vars[k] ?? ''}`).join(' ')}`);
    console.log(`slot A: ${fw(status.slots.A)}`);
    console.log(`slot B: ${fw(status.slots.B)}`);
    console.log(`factory: ${fw(status.factory)}`);
    return EXIT.ok;
  },
};

export const SIM_COMMANDS: Command[] = [simImageCommand, simRunCommand, simStatusCommand];
