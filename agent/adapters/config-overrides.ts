// ConfigPort on a file: remote configuration changes (Object 26241) kept in STATE_DIR/config-overrides.json,
// written atomically. Every change is validated as part of the whole configuration before it is saved, so a bad
// value never reaches disk; the agent applies the saved changes when it starts (defaults → file → env → remote).

import { readFileSync } from 'node:fs';
import { CONFIG_KEYS, isSecret, type ConfigKey } from '../../protocol/config-object.js';
import type { JsonValue } from '../../protocol/messages.js';
import { ConfigError, getPath, setPath } from '../config-schema.js';
import { parseConfig, type AgentConfig } from '../config.js';
import type { ConfigPort } from '../core/ports.js';
import { FileStore } from './file-store.js';
import { loadTrustedKeys } from './trusted-keys.js';

interface Overrides {
  revision: number;
  values: Record<string, JsonValue>;
}

const EMPTY: Overrides = { revision: 0, values: {} };

/** Applies remote values (dotted keys) over a raw configuration document. */
export function withOverrides(raw: Record<string, unknown>, values: Record<string, JsonValue>): Record<string, unknown> {
  let out = raw;
  for (const [key, value] of Object.entries(values)) out = setPath(out, key, value);
  return out;
}

/** Reads the saved overrides synchronously at start; an unreadable file counts as none (the caller logs it). */
export function readOverrides(stateDir: string): { overrides: Overrides; error?: string } {
  const file = new FileStore(stateDir, 'config-overrides.json').path;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { overrides: EMPTY };
  }
  try {
    const env = JSON.parse(text) as { data?: Overrides };
    const o = env.data;
    if (!o || typeof o.revision !== 'number' || typeof o.values !== 'object' || o.values === null) throw new Error('no revision/values');
    return { overrides: o };
  } catch (e) {
    return { overrides: EMPTY, error: `${file}: ${(e as Error).message}` };
  }
}

export class ConfigOverrides implements ConfigPort {
  private readonly store: FileStore;

  constructor(
    private readonly raw: Record<string, unknown>,
    private readonly env: NodeJS.ProcessEnv,
    stateDir: string,
    private overrides: Overrides,
  ) {
    this.store = new FileStore(stateDir, 'config-overrides.json');
  }

  /** the configuration as it would be with `values` applied; throws ConfigError */
  private effective(values: Record<string, JsonValue>): AgentConfig {
    return parseConfig(withOverrides(this.raw, values), this.env);
  }

  values(): Record<string, JsonValue> {
    const cfg = this.effective(this.overrides.values) as unknown as Record<string, unknown>;
    const out: Record<string, JsonValue> = {};
    for (const key of CONFIG_KEYS) if (!isSecret(key)) out[key] = getPath(cfg, key) as JsonValue;
    return out;
  }

  revision(): number {
    return this.overrides.revision;
  }

  check(patch: Record<string, JsonValue>): string | undefined {
    for (const key of Object.keys(patch)) {
      if (!(CONFIG_KEYS as readonly string[]).includes(key)) return `${key}: not remotely configurable (configurable: ${CONFIG_KEYS.join(', ')})`;
    }
    try {
      // the trusted keys too (files read, PEM parsed): a change that leaves the agent unable to start is refused now
      loadTrustedKeys(this.effective({ ...this.overrides.values, ...patch }));
      return undefined;
    } catch (e) {
      if (e instanceof ConfigError) return e.message;
      throw e;
    }
  }

  async apply(patch: Record<string, JsonValue>): Promise<void> {
    const problem = this.check(patch);
    if (problem !== undefined) throw new ConfigError('', problem);
    const next: Overrides = { revision: this.overrides.revision + 1, values: { ...this.overrides.values, ...patch } };
    await this.store.save(next);
    this.overrides = next;
  }

  async reset(): Promise<void> {
    await this.store.save(EMPTY);
    this.overrides = EMPTY;
  }

  /** the keys a change touches, for logs (secrets named, never shown) */
  static describe(patch: Record<string, JsonValue>): string {
    return Object.keys(patch)
      .map((k) => (isSecret(k as ConfigKey) ? `${k}=***` : `${k}=${JSON.stringify(patch[k])}`))
      .join(', ');
  }
}
