// The saved remote configuration document (STATE_DIR/config-overrides.json) and the decision, at each start, of the
// configuration the agent runs with: the kept one, or a candidate tried once ("confirm or revert"). Pure: parsing
// is passed in; the caller saves.

import type { JsonValue } from '../../protocol/messages.js';
import type { AgentConfig } from '../config.js';

export type Values = Record<string, JsonValue>;

export interface Candidate {
  revision: number;
  values: Values;
  /** the keys it changes, for the status and the log */
  keys: string[];
  /** an agent run has started with it (a second start without a confirmation reverts it) */
  started: boolean;
}

export interface ConfigDocument {
  /** the configuration last connected with (0 and {} = the shipped one) */
  revision: number;
  values: Values;
  /** a change being tried */
  candidate?: Candidate;
  /** what became of the last change, or a problem with this document; "" when there is nothing to say */
  status: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const rev = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);

/** A document from what was stored (older agents saved only revision and values); nothing stored = the shipped one. */
export function restoreConfigDocument(raw: unknown): ConfigDocument {
  if (!isObj(raw)) return { revision: 0, values: {}, status: '' };
  const doc: ConfigDocument = { revision: rev(raw.revision), values: isObj(raw.values) ? (raw.values as Values) : {}, status: typeof raw.status === 'string' ? raw.status : '' };
  const c = raw.candidate;
  if (isObj(c) && isObj(c.values)) {
    const keys = Array.isArray(c.keys) ? c.keys.filter((k): k is string => typeof k === 'string') : Object.keys(c.values);
    doc.candidate = { revision: rev(c.revision), values: c.values as Values, keys, started: c.started === true };
  }
  return doc;
}

export interface StartDecision {
  doc: ConfigDocument;
  /** the configuration of this run; undefined when even the kept changes do not parse (the file alone rules) */
  cfg: AgentConfig | undefined;
  /** this run tries a candidate */
  trial: boolean;
  /** `doc` differs from what was stored and must be saved before the agent connects */
  changed: boolean;
  problems: string[];
}

/**
 * At start: a candidate not started yet is started (this run tries it); one an earlier run started but never
 * confirmed is reverted (that run ended before connecting: crash, power cut, timeout); one that does not parse is
 * reverted. Without `run` (a CLI command) nothing changes: the newest values are shown as they are.
 */
export function startingDocument(stored: unknown, o: { run: boolean; parse(values: Values): AgentConfig }): StartDecision {
  let doc = restoreConfigDocument(stored);
  const problems: string[] = [];
  let changed = false;
  const revert = (reason: string) => {
    const c = doc.candidate!;
    doc = { revision: doc.revision, values: doc.values, status: `revision ${c.revision} (${c.keys.join(', ')}) reverted to revision ${doc.revision}: ${reason}` };
    problems.push(doc.status);
    changed = true;
  };
  const tryParse = (values: Values): AgentConfig | string => {
    try {
      return o.parse(values);
    } catch (e) {
      return (e as Error).message;
    }
  };
  if (doc.candidate && o.run) {
    if (doc.candidate.started) revert('the agent stopped before it could connect with it');
    else {
      const parsed = tryParse(doc.candidate.values);
      if (typeof parsed === 'string') revert(`it is not valid with the configuration file as it is now: ${parsed}`);
      else {
        doc = { ...doc, candidate: { ...doc.candidate, started: true } };
        return { doc, cfg: parsed, trial: true, changed: true, problems };
      }
    }
  }
  const parsed = tryParse(doc.candidate?.values ?? doc.values);
  if (typeof parsed === 'string') {
    // a configuration file edited since may make an old remote change invalid: the file wins, say so (the changes
    // stay saved: mending the file brings them back)
    problems.push(`remote configuration changes ignored: ${parsed}`);
    return { doc, cfg: undefined, trial: false, changed, problems };
  }
  return { doc, cfg: parsed, trial: false, changed, problems };
}
