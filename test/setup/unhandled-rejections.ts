// Setup file of every test project: a promise rejection nobody handled fails the test during which it happened
// (vitest alone reports it for the whole run, after the fact, and names no test). Hub processes started by tests
// are checked the same way by test/helpers/hub-process.ts.
import { afterEach } from 'vitest';

// one listener per process: a single-fork project runs every file's setup in the same process (11 files gave
// Node's MaxListenersExceededWarning), so the list lives on the process, not in this module
const KEY = Symbol.for('fota.test.unhandledRejections');
const holder = globalThis as unknown as Record<symbol, unknown[] | undefined>;
const seen: unknown[] = holder[KEY] ?? (holder[KEY] = []);
if (process.listeners('unhandledRejection').every((l) => (l as { fotaTest?: boolean }).fotaTest !== true)) {
  const listener = Object.assign((reason: unknown) => void seen.push(reason), { fotaTest: true });
  process.on('unhandledRejection', listener);
}

afterEach(async () => {
  // rejections are reported after a turn of the event loop: let those of the test's last moments arrive
  await new Promise((r) => setImmediate(r));
  if (seen.length === 0) return;
  const all = seen.splice(0).map((r) => (r instanceof Error ? (r.stack ?? r.message) : String(r)));
  throw new Error(`unhandled promise rejection(s) during this test:\n${all.join('\n')}`);
});
