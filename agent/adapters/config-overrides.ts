// ConfigPort on a file: remote configuration changes (Object 26241) kept in STATE_DIR/config-overrides.json with a
// backup copy. A change is validated against the whole configuration, then tried: the agent restarts with it as a
// candidate and keeps it only once it has connected to the broker with it; otherwise it goes back to the last
// configuration that connected ("confirm or revert", as a network manager does) and says so in `status`.
//
// INVARIANTS
// - Every change to the document (apply, confirm, revert, reset) runs in one queue, and is saved before it counts:
//   two writes at once both land, in order, and the answer to each matches what was saved.
// - `revision`/`values` are always a configuration the agent connected with (or the shipped one); a candidate is
//   started at most once: a run that ends before connecting (crash, power cut, timeout) reverts it.
// - A change equal to the current values saves nothing and restarts nothing.

import { CONFIG_KEYS, isSecret, type ConfigKey } from '../../protocol/config-object.js';
import type { JsonValue } from '../../protocol/messages.js';
import { AGENT_SCHEMA, parseConfig, type AgentConfig } from '../config.js';
import { ConfigError, fields, getPath, setPath } from '../config-schema.js';
import type { ConfigPort, ConfigTrial } from '../core/ports.js';
import { FileStore } from './file-store.js';
import { loadTrustedKeys } from './trusted-keys.js';
import { startingDocument, type ConfigDocument, type Values } from './config-document.js';

export const OVERRIDES_FILE = 'config-overrides.json';

/** Applies remote values (dotted keys) over a raw configuration document. */
export function withOverrides(raw: Record<string, unknown>, values: Values): Record<string, unknown> {
  let out = raw;
  for (const [key, value] of Object.entries(values)) out = setPath(out, key, value);
  return out;
}

/** What a remote change may not set although the file may (a value that would cut the device off for long). */
const REMOTE_RANGES = new Map(fields(AGENT_SCHEMA).flatMap(([key, f]) => (f.remoteRange ? [[key, f.remoteRange] as const] : [])));

export interface StartedConfig {
  cfg: AgentConfig;
  config: ConfigOverrides;
  /** problems to log (and that `status` reports to the hub) */
  problems: string[];
}

/**
 * Reads the saved changes at start and decides the configuration of this run. With `run` (the daemon, not a CLI
 * command) a candidate is marked started (saved) before it is used, or reverted if an earlier run already started it.
 * Throws ConfigError only for the configuration file itself (the agent exits 78).
 */
export async function startWithOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, opts: { run: boolean }): Promise<StartedConfig> {
  const stateDir = parseConfig(raw, env).stateDir;
  const store = new FileStore(stateDir, OVERRIDES_FILE, { backup: true });
  const problems: string[] = [];
  let loaded: unknown;
  try {
    const r = await store.loadWithBackup();
    loaded = r.value;
    if (r.error) problems.push(`${r.error}: using its backup copy`);
  } catch (e) {
    problems.push(`${(e as Error).message}: the hub's configuration changes are lost; running with the configuration file`);
  }
  const parse = (values: Values) => parseConfig(withOverrides(raw, values), env);
  const start = startingDocument(loaded, { run: opts.run, parse });
  problems.push(...start.problems);
  // the problems are what the hub must learn first (they replace the status of the last change)
  const doc: ConfigDocument = problems.length > 0 ? { ...start.doc, status: problems.join('; ') } : start.doc;
  if (opts.run && (start.changed || problems.length > 0)) {
    // a candidate must be marked started before it is used: a run that never connects then reverts it
    await store.save(doc).catch((e: unknown) => problems.push(`could not save ${store.path}: ${(e as Error).message}`));
  }
  return { cfg: start.cfg ?? parseConfig(raw, env), config: new ConfigOverrides(raw, env, store, doc, start.trial), problems };
}

export class ConfigOverrides implements ConfigPort {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly raw: Record<string, unknown>,
    private readonly env: NodeJS.ProcessEnv,
    private readonly store: FileStore,
    private doc: ConfigDocument,
    /** this run uses a candidate that is not kept yet */
    private readonly onTrial = false,
  ) {}

  /** the configuration as it would be with `values` applied; throws ConfigError */
  private effective(values: Values): AgentConfig {
    return parseConfig(withOverrides(this.raw, values), this.env);
  }

  /** the newest change: the candidate when there is one (running or about to), else the kept configuration */
  private current(): { revision: number; values: Values } {
    return this.doc.candidate ?? this.doc;
  }

  values(): Record<string, JsonValue> {
    const cfg = this.effective(this.current().values) as unknown as Record<string, unknown>;
    const out: Record<string, JsonValue> = {};
    for (const key of CONFIG_KEYS) if (!isSecret(key)) out[key] = getPath(cfg, key) as JsonValue;
    return out;
  }

  revision(): number {
    return this.current().revision;
  }

  status(): string {
    return this.doc.status;
  }

  trial(): ConfigTrial | undefined {
    const c = this.doc.candidate;
    if (!this.onTrial || !c?.started) return undefined;
    return { revision: c.revision, keys: c.keys, timeoutMs: this.effective(c.values).broker.confirmTimeoutSec * 1000 };
  }

  check(patch: Record<string, JsonValue>): string | undefined {
    for (const [key, value] of Object.entries(patch)) {
      if (!(CONFIG_KEYS as readonly string[]).includes(key)) return `${key}: not remotely configurable (configurable: ${CONFIG_KEYS.join(', ')})`;
      const range = REMOTE_RANGES.get(key);
      if (range && typeof value === 'number' && ((range.min !== undefined && value < range.min) || (range.max !== undefined && value > range.max)))
        return `${key}: a remote change must stay from ${range.min ?? '-∞'} to ${range.max ?? '∞'} (a longer outage would follow; set it in the configuration file if you mean it)`;
    }
    try {
      // the trusted keys too (files read, PEM parsed): a change that leaves the agent unable to start is refused now
      loadTrustedKeys(this.effective({ ...this.current().values, ...patch }));
      return undefined;
    } catch (e) {
      if (e instanceof ConfigError) return e.message;
      throw e;
    }
  }

  apply(patch: Record<string, JsonValue>): Promise<{ changed: boolean; refused?: string }> {
    return this.serial(async () => {
      const refused = this.check(patch);
      if (refused !== undefined) return { changed: false, refused };
      const base = this.current();
      const unchanged = Object.entries(patch).every(([k, v]) => JSON.stringify(base.values[k] ?? getPath(this.effective(base.values) as never, k)) === JSON.stringify(v));
      if (unchanged) return { changed: false };
      // a request reached us, so a running candidate has connected: it is the base of the next one
      const kept = this.doc.candidate?.started ? { revision: this.doc.candidate.revision, values: this.doc.candidate.values } : { revision: this.doc.revision, values: this.doc.values };
      const keys = [...new Set([...(this.doc.candidate && !this.doc.candidate.started ? this.doc.candidate.keys : []), ...Object.keys(patch)])];
      const revision = base.revision + 1;
      await this.commit({
        ...kept,
        candidate: { revision, values: { ...base.values, ...patch }, keys, started: false },
        status: `revision ${revision} (${keys.join(', ')}) is being tried: it is kept once the agent has connected with it`,
      });
      return { changed: true };
    });
  }

  confirm(): Promise<void> {
    return this.serial(async () => {
      const c = this.doc.candidate;
      if (!c?.started) return;
      await this.commit({ revision: c.revision, values: c.values, status: `revision ${c.revision} (${c.keys.join(', ')}) kept: the agent connected with it` });
    });
  }

  revert(reason: string): Promise<void> {
    return this.serial(async () => {
      const c = this.doc.candidate;
      if (!c) return;
      await this.commit({ revision: this.doc.revision, values: this.doc.values, status: `revision ${c.revision} (${c.keys.join(', ')}) reverted to revision ${this.doc.revision}: ${reason}` });
    });
  }

  reset(): Promise<void> {
    return this.serial(() => this.commit({ revision: 0, values: {}, status: 'factory reset: back to the shipped configuration' }));
  }

  /** saves `next`; it counts only once saved (a failed save changes nothing) */
  private async commit(next: ConfigDocument): Promise<void> {
    await this.store.save(next);
    this.doc = next;
  }

  private serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job, job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** the keys a change touches, for logs (secrets named, never shown) */
  static describe(patch: Record<string, JsonValue>): string {
    return Object.keys(patch)
      .map((k) => (isSecret(k as ConfigKey) ? `${k}=***` : `${k}=${JSON.stringify(patch[k])}`))
      .join(', ');
  }
}
