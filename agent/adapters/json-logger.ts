// Logger port: one JSON object per line on stdout (journald keeps it), errors on stderr too.
// Callers never pass credentials; URLs are logged as scheme://host/path only (see redact helpers).

import type { Logger } from '../core/ports.js';

type Sink = (line: string) => void;

export function jsonLogger(opts: { component: string; out?: Sink; err?: Sink; level?: 'info' | 'warn' | 'error' }): Logger {
  const out: Sink = opts.out ?? ((l) => process.stdout.write(l + '\n'));
  const err: Sink = opts.err ?? ((l) => process.stderr.write(l + '\n'));
  const rank = { info: 0, warn: 1, error: 2 } as const;
  const min = rank[opts.level ?? 'info'];
  const emit = (level: keyof typeof rank, msg: string, fields?: Record<string, unknown>) => {
    if (rank[level] < min) return;
    const line = JSON.stringify({ time: new Date().toISOString(), level, component: opts.component, msg, ...fields });
    (level === 'error' ? err : out)(line);
  };
  return {
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    transition: (rec) => emit('info', 'transition', rec),
  };
}
