// The ids of the writes and executes the agent has acted on, with their answers, so one request id is acted on at
// most once: a QoS 1 redelivery after a reconnect, a replay, or a second hub reusing an id gets the first answer
// again and changes nothing. Pure core: persisted through a Store port, bounded to the newest MAX_REMEMBERED ids.
//
// INVARIANTS
// - `remember(id)` resolves only once the id is durable (a power cut after it cannot make the action run twice).
// - Saves run one at a time; a save started after `remember(id)` was called always includes `id`. Concurrent
//   callers share one save (one fsync for a burst).
// - At most MAX_REMEMBERED ids are kept; the oldest go first. Their answers are cut to MAX_REASON characters.

import { Code, type CodeValue } from '../../protocol/lwm2m.js';
import type { Response } from '../../protocol/messages.js';
import type { Store } from './ports.js';

/** ~256 × (id ≤ 128 + reason ≤ 200) characters: at most ~90 KB on disk, a few KB typically. */
export const MAX_REMEMBERED = 256;
const MAX_REASON = 200;
const FORMAT = 1;

interface Answer {
  code: CodeValue;
  reason?: string;
}

const CODES = new Set<string>(Object.values(Code));

export class RequestLog {
  /** id → its answer, or null while it is being handled (or was, when the agent stopped before answering) */
  private readonly ids = new Map<string, Answer | null>();
  private chain: Promise<void> = Promise.resolve();
  private next: Promise<void> | undefined;
  /** something changed since the last save started */
  private dirty = false;

  constructor(private readonly store?: Store<unknown>) {}

  /** Loads what an earlier run remembered. Throws when the stored document is unreadable (the caller decides). */
  async load(): Promise<void> {
    const raw = (await this.store?.load()) as { format?: unknown; ids?: unknown } | undefined;
    if (!raw || raw.format !== FORMAT || !Array.isArray(raw.ids)) return;
    for (const e of raw.ids.slice(-MAX_REMEMBERED)) {
      if (!Array.isArray(e) || typeof e[0] !== 'string') continue;
      const [id, code, reason] = e as unknown[];
      this.ids.set(id as string, typeof code === 'string' && CODES.has(code) ? answer(code as CodeValue, reason) : null);
    }
  }

  /** true when `id` was already received (acted on, or being acted on) */
  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** The answer to repeat for a request id received before; a generic one when the first answer is not known. */
  repeat(id: string): Response {
    const a = this.ids.get(id);
    if (a) return { id, ...a };
    return { id, code: Code.BadRequest, reason: `request ${id} was already received and is not acted on twice; send a new id to ask again` };
  }

  /** Records `id` as received and resolves once that is durable. */
  remember(id: string): Promise<void> {
    this.ids.delete(id);
    this.ids.set(id, null);
    while (this.ids.size > MAX_REMEMBERED) this.ids.delete(this.ids.keys().next().value as string);
    this.dirty = true;
    return this.persist();
  }

  /** Records the answer given (kept in memory; durable with the next save). */
  answered(res: Response): void {
    if (!this.ids.has(res.id)) return;
    this.ids.set(res.id, answer(res.code, res.reason));
    this.dirty = true;
  }

  /** Saves what changed since the last save (e.g. when stopping), so the answers given so far survive. */
  flush(): Promise<void> {
    return this.dirty ? this.persist() : (this.next ?? this.chain);
  }

  private persist(): Promise<void> {
    const store = this.store;
    if (!store) return Promise.resolve();
    // a save not started yet will include everything remembered so far: share it
    if (this.next) return this.next;
    const run = this.chain.then(() => {
      this.next = undefined;
      this.dirty = false;
      const ids = [...this.ids].map(([id, a]) => (a ? (a.reason === undefined ? [id, a.code] : [id, a.code, a.reason]) : [id]));
      return store.save({ format: FORMAT, ids });
    });
    this.next = run;
    this.chain = run.catch(() => undefined);
    return run;
  }
}

function answer(code: CodeValue, reason: unknown): Answer {
  return typeof reason === 'string' ? { code, reason: reason.slice(0, MAX_REASON) } : { code };
}
