// Fault injection for the power-cut tests (test/system/power-cut.test.ts). With FOTA_FAULT_POWER_CUT_AT=N the agent
// SIGKILLs itself right after its N-th durable operation — a state save, a configuration write, or a platform side
// effect (slot synced, slot finished, environment written, reboot requested) — counted across agent runs in the state
// directory, once per state directory. The simulator treats an agent killed by SIGKILL as a power cut and boots again.
// Without the variable nothing is wrapped. Synchronous file IO on purpose: nothing may run between the operation and
// the kill. FOTA_FAULT_POWER_CUT_AT=after:KIND cuts right after the first operation of that kind instead ("slot
// finished", "slot synced", "state saved", …): the number of an operation moves with time-driven saves (progress) and
// with how the bytes arrive, so a sweep by number alone can miss a kind on a loaded machine.

import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigPort, PlatformAdapter, SlotWriter, Store } from '../core/ports.js';

export const POWER_CUT_ENV = 'FOTA_FAULT_POWER_CUT_AT';
/** files in the state directory: the operation count, one line per operation, and the marker of the cut made */
export const POWER_CUT_FILES = { count: '.power-cut-ops', trail: '.power-cut-trail', done: '.power-cut-done' } as const;

export interface PowerCutInjector {
  store<T>(s: Store<T>): Store<T>;
  platform(p: PlatformAdapter): PlatformAdapter;
  config(c: ConfigPort): ConfigPort;
}

/** An operation's kind: "slot synced at 1048576" → "slot synced", "state saved: downloading …" → "state saved". */
export function operationKind(op: string): string {
  return op.replace(/ at \d+$/, '').replace(/^(state|failure) saved: .*/, '$1 saved');
}

/** The cut FOTA_FAULT_POWER_CUT_AT asks for: N (a positive integer) or after:KIND; undefined for anything else. */
function cutPoint(spec: string): ((ops: number, what: string) => boolean) | undefined {
  if (spec.startsWith('after:')) {
    const kind = spec.slice('after:'.length);
    return kind ? (_ops, what) => operationKind(what) === kind : undefined;
  }
  const n = Number(spec);
  return Number.isInteger(n) && n > 0 ? (ops) => ops === n : undefined;
}

/**
 * Undefined unless FOTA_FAULT_POWER_CUT_AT is a positive integer or `after:KIND` and this state directory has not been
 * cut yet.
 */
export function powerCutInjector(env: NodeJS.ProcessEnv, stateDir: string): PowerCutInjector | undefined {
  const isCut = cutPoint(env[POWER_CUT_ENV] ?? '');
  const file = (k: keyof typeof POWER_CUT_FILES) => join(stateDir, POWER_CUT_FILES[k]);
  if (!isCut || existsSync(file('done'))) return undefined;
  const after = (what: string): void => {
    if (existsSync(file('done'))) return;
    const ops = (existsSync(file('count')) ? Number(readFileSync(file('count'), 'utf8')) : 0) + 1;
    writeFileSync(file('count'), String(ops));
    appendFileSync(file('trail'), `${ops} ${what}\n`);
    if (!isCut(ops, what)) return;
    writeFileSync(file('done'), `${ops} ${what}\n`);
    process.kill(process.pid, 'SIGKILL');
  };
  // the label is taken when the operation is asked for: a slot sync covers the position of that moment, and writes
  // may go on while its fdatasync runs
  const wrap = <A extends unknown[], R>(what: string | ((...a: A) => string), fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      const label = typeof what === 'string' ? what : what(...a);
      const r = await fn(...a);
      after(label);
      return r;
    };
  const writer = (w: SlotWriter): SlotWriter => ({
    get position() {
      return w.position;
    },
    ...(w.checksImage ? { checksImage: true } : {}),
    write: (c) => w.write(c),
    sync: wrap(() => `slot synced at ${w.position}`, () => w.sync()),
    finish: wrap('slot finished', () => w.finish()),
    abort: () => w.abort(),
  });
  return {
    store: (s) =>
      override(s, {
        save: wrap(
          (v: unknown) => `state saved: ${describeState(v)}`,
          (v: unknown) => s.save(v as never),
        ),
        ...(s.saveFailure ? { saveFailure: wrap((v: unknown) => `failure saved: ${describeState(v)}`, (v: unknown) => s.saveFailure!(v as never)) } : {}),
      }),
    platform: (p) =>
      override(p, {
        openInactiveSlot: async (o: { size: number; offset?: number }) => writer(await p.openInactiveSlot(o)),
        activateInactiveSlot: wrap('environment written: slot armed', () => p.activateInactiveSlot()),
        commitBootedSlot: wrap('environment written: slot committed', () => p.commitBootedSlot()),
        revertTrial: wrap('environment written: trial reverted', () => p.revertTrial()),
        reboot: wrap('reboot requested', (reason: string) => p.reboot(reason)),
      }),
    config: (c) =>
      override(c, {
        apply: wrap('configuration saved', (patch: Parameters<ConfigPort['apply']>[0]) => c.apply(patch)),
        reset: wrap('configuration reset', () => c.reset()),
      }),
  };
}

/** `target` with some methods replaced; everything else (optional methods included) goes to `target` itself. */
function override<T extends object>(target: T, methods: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(target, {
    get(t, key, receiver) {
      if (Object.hasOwn(methods, key)) return methods[key as keyof T];
      const v: unknown = Reflect.get(t, key, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

function describeState(v: unknown): string {
  const f = (v as { firmware?: { phase?: string; step?: string | null } } | undefined)?.firmware;
  return f ? `${f.phase ?? '?'}${f.step ? `:${f.step}` : ''}` : '?';
}
