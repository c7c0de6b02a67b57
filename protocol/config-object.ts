// Object 26241 "fota Agent Configuration" (private range): the agent settings a hub may read and change.
// One instance. Resource ids are fixed here; names are the agent's configuration keys (docs/configuration.md).
// Secrets are write-only. A write of several resources to /26241/0 is validated and applied as one change.

/** Configuration key → resource id, and whether it is write-only (a secret). */
export const CONFIG_RESOURCES = {
  'broker.keepaliveSec': { id: 0 },
  'broker.reconnectInitialDelaySec': { id: 1 },
  'broker.reconnectMaxDelaySec': { id: 2 },
  'broker.password': { id: 3, secret: true },
  allowedUriSchemes: { id: 4 },
  'download.retries': { id: 5 },
  'download.initialDelaySec': { id: 6 },
  'download.maxDelaySec': { id: 7 },
  'download.connectTimeoutSec': { id: 8 },
  'download.stallTimeoutSec': { id: 9 },
  'health.connectTimeoutSec': { id: 10 },
  'health.commandTimeoutSec': { id: 11 },
  'registration.lifetimeSec': { id: 12 },
  progressIntervalMs: { id: 13 },
  logLevel: { id: 14 },
  'download.minAverageBytesPerSec': { id: 15 },
  'download.deadlineSec': { id: 16 },
  /** Ed25519 public keys (PEM text) trusted besides the shipped ones: key rotation without a reflash */
  trustedKeysPem: { id: 17 },
  /** keyIds no longer trusted, wherever the key is listed */
  retiredKeys: { id: 18 },
  /** anti-rollback: raises the device's security floor (which never falls; Object 5 resource 26246 shows it) */
  securityFloor: { id: 19 },
} as const satisfies Record<string, { id: number; secret?: boolean }>;

export type ConfigKey = keyof typeof CONFIG_RESOURCES;

/** Read-only: how many remote configuration changes are in effect (0 = the shipped configuration). */
export const CONFIG_REVISION = 100;
/**
 * Read-only string: what became of the last change ("revision 4 (broker.password) reverted to revision 3: the agent
 * did not connect to the broker within 120 s with it") or a problem with the saved changes; "" when none.
 */
export const CONFIG_STATUS = 101;

export const CONFIG_KEYS = Object.keys(CONFIG_RESOURCES) as ConfigKey[];

export function configKeyOf(resource: number): ConfigKey | undefined {
  return CONFIG_KEYS.find((k) => CONFIG_RESOURCES[k].id === resource);
}

export function isSecret(key: ConfigKey): boolean {
  return 'secret' in CONFIG_RESOURCES[key];
}
