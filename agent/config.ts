// The agent's configuration: one JSON file (`fota-agent --config FILE`), validated once at start, frozen.
// Order: schema defaults → file → environment (FOTA_AGENT_*). A bad config exits 78 (EX_CONFIG).

import { readFileSync } from 'node:fs';
import { ENDPOINT_RE, PREFIX_RE } from '../protocol/topics.js';
import { isComparableVersion } from '../protocol/versions.js';
import { applySchema, ConfigError, deepFreeze, type Schema } from './config-schema.js';

const BROKER_URL = /^(mqtts?|tcp|ssl|wss?):\/\/[^\s]+$/;
const ABS_PATH = /^\//;
const KEY_ID = /^[0-9a-f]{16}$/;
/** at most this many keys over the wire (each ~113 bytes: a configuration write stays far below the 64 KiB message cap) */
const MAX_PEM_KEYS = 16;

/** The agent's configuration schema. `remote: true` keys may be changed by the hub (configuration object). */
export const AGENT_SCHEMA = {
  deviceId: { spec: { kind: 'string', default: '', required: true, pattern: ENDPOINT_RE, hint: 'letters, digits, . _ : - (max 128), starting with a letter or digit' }, doc: 'LwM2M endpoint name; unique in the fleet' },
  broker: {
    url: { spec: { kind: 'string', default: 'mqtt://127.0.0.1:1883', pattern: BROKER_URL, hint: 'an MQTT URL such as mqtts://broker.example:8883' }, doc: 'broker URL (mqtt://, mqtts://, ws://, wss://)' },
    username: { spec: { kind: 'string', default: '' }, doc: 'MQTT user name' },
    password: { spec: { kind: 'string', default: '', secret: true }, doc: 'MQTT password (prefer passwordFile)', remote: true },
    passwordFile: { spec: { kind: 'string', default: '', pattern: ABS_PATH, hint: 'an absolute path' }, doc: 'file holding the MQTT password (systemd credentials)' },
    caFile: { spec: { kind: 'string', default: '', pattern: ABS_PATH, hint: 'an absolute path' }, doc: 'CA certificate(s) (PEM) to verify the broker' },
    certFile: { spec: { kind: 'string', default: '', pattern: ABS_PATH, hint: 'an absolute path' }, doc: 'client certificate (PEM) for mutual TLS' },
    keyFile: { spec: { kind: 'string', default: '', pattern: ABS_PATH, hint: 'an absolute path' }, doc: 'client key (PEM) for mutual TLS' },
    rejectUnauthorized: { spec: { kind: 'bool', default: true }, doc: 'verify the broker certificate (keep true outside a lab)' },
    keepaliveSec: { spec: { kind: 'int', default: 30, min: 5, max: 3600 }, doc: 'MQTT keepalive', remote: true },
    protocolVersion: { spec: { kind: 'enum', default: 4, values: [4, 5] }, doc: 'MQTT 3.1.1 (4) or 5' },
    connectTimeoutSec: { spec: { kind: 'int', default: 15, min: 1, max: 600 }, doc: 'time allowed for one connection attempt' },
    // a trial connects at once, so it cannot catch a long reconnect delay: remote changes keep it short
    reconnectInitialDelaySec: { spec: { kind: 'number', default: 1, min: 0.05, max: 3600 }, doc: 'first reconnect delay (doubles, full jitter)', remote: true, remoteRange: { max: 60 } },
    reconnectMaxDelaySec: { spec: { kind: 'number', default: 60, min: 0.1, max: 86400 }, doc: 'reconnect delay ceiling', remote: true, remoteRange: { max: 900 } },
    confirmTimeoutSec: { spec: { kind: 'int', default: 120, min: 10, max: 3600 }, doc: 'a configuration change from the hub is kept only if the agent connects with it within this time; otherwise the last configuration that connected comes back' },
  },
  topicPrefix: { spec: { kind: 'string', default: 'lwm2m', pattern: PREFIX_RE, hint: 'topic levels without wildcards, e.g. lwm2m or acme/fleet1' }, doc: 'MQTT topic prefix' },
  platform: {
    name: { spec: { kind: 'string', default: '', required: true }, doc: 'board backend: uboot, edison, grub, rpi-tryboot, simulator' },
    options: { spec: { kind: 'object', default: {} }, doc: 'backend options (docs/platforms.md)' },
  },
  stateDir: { spec: { kind: 'string', default: '/var/lib/fota-agent', pattern: ABS_PATH, hint: 'an absolute path' }, doc: 'where the agent keeps its state' },
  trustedKeys: { spec: { kind: 'strings', default: [], pattern: ABS_PATH, hint: 'an absolute path to an Ed25519 public key (PEM)' }, doc: 'public keys packages must be signed with' },
  // parsed by agent/adapters/trusted-keys.ts (at start and before a remote change is kept), which never echoes the text
  trustedKeysPem: { spec: { kind: 'strings', default: [] }, doc: 'more trusted Ed25519 public keys, as PEM text (key rotation over the wire)', remote: true },
  retiredKeys: { spec: { kind: 'strings', default: [], pattern: KEY_ID, hint: 'a keyId: 16 lowercase hex digits' }, doc: 'keyIds no longer trusted, wherever the key is listed', remote: true },
  allowUnsigned: { spec: { kind: 'bool', default: false }, doc: 'accept packages without a signature (lab use only)' },
  securityFloor: { spec: { kind: 'string', default: '' }, doc: 'no firmware below this version is installed, whatever a job allows; the saved floor only rises', remote: true },
  allowedUriSchemes: { spec: { kind: 'strings', default: ['https', 'http'], values: ['https', 'http'] }, doc: 'package URI schemes the agent will fetch', remote: true },
  download: {
    caFile: { spec: { kind: 'string', default: '', pattern: ABS_PATH, hint: 'an absolute path' }, doc: 'extra CA certificate(s) (PEM) for HTTPS package servers' },
    retries: { spec: { kind: 'int', default: 8, min: 0, max: 1000 }, doc: 'retries without progress before a download fails (result 4)', remote: true },
    initialDelaySec: { spec: { kind: 'number', default: 1, min: 0, max: 3600 }, doc: 'first retry delay (doubles, full jitter)', remote: true },
    maxDelaySec: { spec: { kind: 'number', default: 60, min: 0, max: 86400 }, doc: 'retry delay ceiling', remote: true },
    connectTimeoutSec: { spec: { kind: 'int', default: 30, min: 1, max: 3600 }, doc: 'connect + response headers timeout', remote: true },
    stallTimeoutSec: { spec: { kind: 'int', default: 60, min: 1, max: 3600 }, doc: 'a download with no byte for this long is retried', remote: true },
    minBytesPerSec: { spec: { kind: 'int', default: 1024, min: 0, max: 1_000_000_000 }, doc: 'a download slower than this over stallTimeoutSec is retried on a new connection (0: off)' },
    minAverageBytesPerSec: { spec: { kind: 'int', default: 256, min: 0, max: 1_000_000_000 }, doc: 'the whole download must average this (result 4 otherwise; 0: off)', remote: true },
    deadlineSec: { spec: { kind: 'int', default: 86_400, min: 0, max: 30 * 86_400 }, doc: 'the whole download must finish within this (result 4 otherwise; 0: none)', remote: true },
    checkpointMiB: { spec: { kind: 'int', default: 16, min: 1, max: 4096 }, doc: 'resume checkpoint interval (slot synced, state saved)' },
  },
  health: {
    connectTimeoutSec: { spec: { kind: 'int', default: 120, min: 1, max: 86400 }, doc: 'a trial boot must reach the broker within this time', remote: true, remoteRange: { min: 30 } },
    command: { spec: { kind: 'strings', default: [] }, doc: 'optional health command argv; exit 0 = healthy' },
    commandTimeoutSec: { spec: { kind: 'int', default: 60, min: 1, max: 3600 }, doc: 'health command time limit', remote: true },
    manual: { spec: { kind: 'bool', default: false }, doc: 'commit a trial only on `fota-agent mark-good` (the board checks its health itself); the broker check and health command can still fail it' },
  },
  gpio: {
    backend: { spec: { kind: 'enum', default: 'auto', values: ['auto', 'sysfs', 'gpiod'] }, doc: 'how GPIO lines are driven: sysfs (onoff where it loads), the libgpiod tools, or auto (sysfs, then gpiod)' },
    sysfsRoot: { spec: { kind: 'string', default: '/sys/class/gpio', pattern: ABS_PATH, hint: 'an absolute path' }, doc: 'the sysfs GPIO folder (gpiochipN/base and label give the global numbers)' },
    led: {
      line: { spec: { kind: 'int', default: -1, min: -1, max: 1023 }, doc: 'status LED: line offset on its chip (-1: no LED)' },
      chip: { spec: { kind: 'string', default: '' }, doc: 'status LED: chip label (e.g. pinctrl-bcm2711); empty: the Raspberry Pi\'s header chip' },
      activeLow: { spec: { kind: 'bool', default: false }, doc: 'status LED: lit at low level' },
    },
    button: {
      line: { spec: { kind: 'int', default: -1, min: -1, max: 1023 }, doc: 'factory-reset button: line offset on its chip (-1: no button)' },
      chip: { spec: { kind: 'string', default: '' }, doc: 'factory-reset button: chip label; empty: the Raspberry Pi\'s header chip' },
      activeLow: { spec: { kind: 'bool', default: true }, doc: 'factory-reset button: pressed at low level (a button to ground with a pull-up)' },
      holdSec: { spec: { kind: 'int', default: 10, min: 2, max: 120 }, doc: 'factory-reset button: seconds it must be held' },
    },
  },
  device: {
    manufacturer: { spec: { kind: 'string', default: '' }, doc: 'Object 3 Manufacturer (default: read from the board)' },
    model: { spec: { kind: 'string', default: '' }, doc: 'Object 3 Model Number (default: read from the board)' },
    serial: { spec: { kind: 'string', default: '' }, doc: 'Object 3 Serial Number (default: read from the board)' },
    hardwareVersion: { spec: { kind: 'string', default: '' }, doc: 'Object 3 Hardware Version' },
    deviceType: { spec: { kind: 'string', default: '' }, doc: 'device type packages must list (default: the platform\'s)' },
  },
  registration: {
    lifetimeSec: { spec: { kind: 'int', default: 300, min: 30, max: 86400 }, doc: 'registration lifetime; an Update is sent every lifetime/2', remote: true },
  },
  progressIntervalMs: { spec: { kind: 'int', default: 1000, min: 100, max: 60000 }, doc: 'minimum interval between progress notifications', remote: true },
  logLevel: { spec: { kind: 'enum', default: 'info', values: ['info', 'warn', 'error'] }, doc: 'log verbosity', remote: true },
} satisfies Schema;

export interface AgentConfig {
  deviceId: string;
  broker: {
    url: string;
    username: string;
    password: string;
    passwordFile: string;
    caFile: string;
    certFile: string;
    keyFile: string;
    rejectUnauthorized: boolean;
    keepaliveSec: number;
    protocolVersion: 4 | 5;
    connectTimeoutSec: number;
    reconnectInitialDelaySec: number;
    reconnectMaxDelaySec: number;
    confirmTimeoutSec: number;
  };
  topicPrefix: string;
  platform: { name: string; options: Record<string, unknown> };
  stateDir: string;
  trustedKeys: string[];
  trustedKeysPem: string[];
  retiredKeys: string[];
  allowUnsigned: boolean;
  securityFloor: string;
  allowedUriSchemes: ('http' | 'https')[];
  download: {
    caFile: string;
    retries: number;
    initialDelaySec: number;
    maxDelaySec: number;
    connectTimeoutSec: number;
    stallTimeoutSec: number;
    minBytesPerSec: number;
    minAverageBytesPerSec: number;
    deadlineSec: number;
    checkpointMiB: number;
  };
  health: { connectTimeoutSec: number; command: string[]; commandTimeoutSec: number; manual: boolean };
  gpio: {
    backend: 'auto' | 'sysfs' | 'gpiod';
    sysfsRoot: string;
    led: { line: number; chip: string; activeLow: boolean };
    button: { line: number; chip: string; activeLow: boolean; holdSec: number };
  };
  device: { manufacturer: string; model: string; serial: string; hardwareVersion: string; deviceType: string };
  registration: { lifetimeSec: number };
  progressIntervalMs: number;
  logLevel: 'info' | 'warn' | 'error';
}

/** Environment overrides: variable → dotted key. Only what an integrator sets per device or per secret store. */
export const ENV_OVERRIDES: Record<string, string> = {
  FOTA_AGENT_DEVICE_ID: 'deviceId',
  FOTA_AGENT_BROKER_URL: 'broker.url',
  FOTA_AGENT_BROKER_USERNAME: 'broker.username',
  FOTA_AGENT_BROKER_PASSWORD: 'broker.password',
  FOTA_AGENT_STATE_DIR: 'stateDir',
  FOTA_AGENT_LOG_LEVEL: 'logLevel',
};

function withEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  let out = { ...raw };
  for (const [name, key] of Object.entries(ENV_OVERRIDES)) {
    const v = env[name];
    if (v === undefined) continue;
    const [a, b] = key.split('.') as [string, string | undefined];
    if (b === undefined) out[a] = v;
    else out = { ...out, [a]: { ...((out[a] as Record<string, unknown>) ?? {}), [b]: v } };
  }
  return out;
}

/** Validates a parsed configuration document (plus env overrides). Throws ConfigError naming the key. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): AgentConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError('', 'the configuration must be a JSON object');
  const cfg = applySchema(AGENT_SCHEMA, withEnv(raw as Record<string, unknown>, env)) as unknown as AgentConfig;
  if (cfg.broker.password && cfg.broker.passwordFile) throw new ConfigError('broker.password', 'set either password or passwordFile, not both');
  if (Boolean(cfg.broker.certFile) !== Boolean(cfg.broker.keyFile)) throw new ConfigError('broker.certFile', 'certFile and keyFile go together (mutual TLS)');
  if (cfg.broker.reconnectMaxDelaySec < cfg.broker.reconnectInitialDelaySec) throw new ConfigError('broker.reconnectMaxDelaySec', 'must not be below reconnectInitialDelaySec');
  // MQTT 3.1.1 §3.1.2.9: no password without a user name (brokers refuse the connection); MQTT 5 allows it, but no
  // broker fota supports authenticates that way, and a device that cannot connect cannot be told otherwise
  if ((cfg.broker.password || cfg.broker.passwordFile) && !cfg.broker.username) throw new ConfigError('broker.password', 'a password needs broker.username (MQTT sends no password without a user name)');
  if (cfg.broker.confirmTimeoutSec < cfg.broker.connectTimeoutSec) throw new ConfigError('broker.confirmTimeoutSec', 'must not be below connectTimeoutSec (one connection attempt must fit in it)');
  if (cfg.trustedKeys.length + cfg.trustedKeysPem.length === 0 && !cfg.allowUnsigned) throw new ConfigError('trustedKeys', 'list at least one public key, or set allowUnsigned: true (lab use only)');
  if (cfg.trustedKeysPem.length > MAX_PEM_KEYS) throw new ConfigError('trustedKeysPem', `at most ${MAX_PEM_KEYS} keys`);
  if (cfg.retiredKeys.length > 256) throw new ConfigError('retiredKeys', 'at most 256 keyIds');
  if (cfg.securityFloor !== '' && !isComparableVersion(cfg.securityFloor)) {
    throw new ConfigError('securityFloor', `"${cfg.securityFloor}" is not a version the agent can order (SemVer-like: 2.1.0, 2024.01.15; docs/package-format.md)`);
  }
  if (cfg.allowedUriSchemes.length === 0) throw new ConfigError('allowedUriSchemes', 'must allow at least one scheme');
  const { led, button } = cfg.gpio;
  // one line cannot be both the LED's output and the button's input (the second open would fail at run time)
  if (led.line >= 0 && button.line >= 0 && led.line === button.line && led.chip === button.chip) throw new ConfigError('gpio.button.line', `line ${button.line} on ${button.chip || "the Raspberry Pi's header chip"} is also gpio.led.line: give the button a line of its own`);
  return deepFreeze(cfg);
}

/** Reads the configuration file as JSON, unvalidated. Throws ConfigError with the file name. */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError('', `cannot read ${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError('', `${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError('', `${file} must hold a JSON object`);
  return raw as Record<string, unknown>;
}

/** Reads and validates the configuration file. Throws ConfigError. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  return parseConfig(readConfigFile(file), env);
}

/** Reads a file named by a config key, with an error that names the key. */
export function readKeyFile(key: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(key, `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
