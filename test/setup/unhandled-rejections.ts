// Setup file of every test project: a promise rejection nobody handled fails the test during which it happened
// (vitest alone reports it for the whole run, after the fact, and names no test). Hub processes started by tests
// are checked the same way by test/helpers/hub-process.ts.
import { afterEach } from 'vitest';

const seen: unknown[] = [];
process.on('unhandledRejection', (reason) => seen.push(reason));

afterEach(async () => {
  // rejections are reported after a turn of the event loop: let those of the test's last moments arrive
  await new Promise((r) => setImmediate(r));
  if (seen.length === 0) return;
  const all = seen.splice(0).map((r) => (r instanceof Error ? (r.stack ?? r.message) : String(r)));
  throw new Error(`unhandled promise rejection(s) during this test:\n${all.join('\n')}`);
});
