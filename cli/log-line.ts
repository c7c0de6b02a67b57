// One JSON line per event for the services the CLI runs in the foreground (`fota hub`): every line has a `level`,
// and under journald (stdout is the journal stream: $JOURNAL_STREAM, systemd.exec(5)) it starts with the syslog
// priority journald strips and stores as PRIORITY= (<3> error, <4> warning, <6> info): `journalctl -p warning`.
// The hub's log calls carry no level yet: it is the caller's `level` field when given, else read from the message.

import { fstatSync } from 'node:fs';

export type Level = 'info' | 'warn' | 'error';

const PRIORITY: Record<Level, string> = { error: '<3>', warn: '<4>', info: '<6>' };
const ERROR_RE = /\b(fail(ed|s|ure)?|errors?|crash(ed)?|unhandled|bug|exiting)\b|\b5\d\d\b/i;
const WARN_RE = /\b(lost|locked|waiting|paused|refused|retry(ing)?|reconnecting|unreachable|disconnected|timed out|denied)\b|\b40[13]\b/i;

export function levelOf(msg: string, fields?: Record<string, unknown>): Level {
  const given = fields?.['level'];
  if (given === 'info' || given === 'warn' || given === 'error') return given;
  if (fields?.['error'] !== undefined || ERROR_RE.test(msg)) return 'error';
  return WARN_RE.test(msg) ? 'warn' : 'info';
}

/** true when stdout is the journal stream systemd connected */
export function underJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const stream = env['JOURNAL_STREAM'];
  if (!stream) return false;
  try {
    const st = fstatSync(1);
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/** A logger writing `{time, level, component, msg, …fields}` lines to stdout. */
export function jsonLines(component: string, opts: { journal?: boolean; write?: (line: string) => void } = {}): (msg: string, fields?: Record<string, unknown>) => void {
  const journal = opts.journal ?? underJournal();
  const write = opts.write ?? ((l: string) => process.stdout.write(`${l}\n`));
  return (msg, fields) => {
    const level = levelOf(msg, fields);
    write(`${journal ? PRIORITY[level] : ''}${JSON.stringify({ time: new Date().toISOString(), component, msg, ...fields, level })}`);
  };
}
