// Logger port: one JSON object per line on stdout (journald keeps it), errors on stderr too.
// Callers never pass credentials; URLs are logged as scheme://host/path only (see redact helpers).
// Under journald each line starts with its syslog priority (<6> info, <4> warning, <3> error), which journald
// strips and stores as PRIORITY= (SyslogLevelPrefix=, on by default): `journalctl -p warning` then works.

import { fstatSync } from 'node:fs';
import { format } from 'node:util';
import type { Logger } from '../core/ports.js';

type Sink = (line: string) => void;

const PRIORITY = { info: '<6>', warn: '<4>', error: '<3>' } as const;

/** true when stdout is the journal stream systemd connected ($JOURNAL_STREAM is "device:inode" of it, systemd.exec(5)) */
export function underJournal(env: NodeJS.ProcessEnv, fd = 1): boolean {
  const stream = env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const st = fstatSync(fd);
    return stream === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/**
 * Under journald, console.error's lines (a configuration error before the logger exists, a crash) are errors too:
 * each line gets <3>, since journald reads the prefix per line (a stack trace is many lines).
 */
export function errorsAsJournalErrors(): void {
  console.error = (...args: unknown[]) => {
    process.stderr.write(format(...args).split('\n').map((l) => `${PRIORITY.error}${l}`).join('\n') + '\n');
  };
}

export function jsonLogger(opts: { component: string; out?: Sink; err?: Sink; level?: 'info' | 'warn' | 'error'; syslogPrefix?: boolean }): Logger {
  const out: Sink = opts.out ?? ((l) => process.stdout.write(l + '\n'));
  const err: Sink = opts.err ?? ((l) => process.stderr.write(l + '\n'));
  const rank = { info: 0, warn: 1, error: 2 } as const;
  const min = rank[opts.level ?? 'info'];
  const emit = (level: keyof typeof rank, msg: string, fields?: Record<string, unknown>) => {
    if (rank[level] < min) return;
    const line = (opts.syslogPrefix ? PRIORITY[level] : '') + JSON.stringify({ time: new Date().toISOString(), level, component: opts.component, msg, ...fields });
    (level === 'error' ? err : out)(line);
  };
  return {
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    transition: (rec) => emit('info', 'transition', rec),
  };
}
