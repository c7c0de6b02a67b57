// File-descriptor limits of the fleet benchmark's processes (RLIMIT_NOFILE), read from /proc/PID/limits and raised
// with util-linux `prlimit --pid` (argv, no shell). Only the soft limit, up to the hard one (Node does the same for
// itself at start); the hard limit is the machine's decision (limits.conf, systemd LimitNOFILE), not the bench's.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** { soft, hard } of `pid` (its "Max open files" in /proc/PID/limits), or undefined when it is gone. */
export function fdLimit(pid) {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'latin1'));
    const v = (x) => (x === 'unlimited' ? Infinity : Number(x));
    return m ? { soft: v(m[1]), hard: v(m[2]) } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Raises the soft fd limit of `pid` to its hard limit. Returns "soft→hard" as it is afterwards (e.g. "1024→20000
 * raised", "20000 (already the hard limit)"), or why it could not: the report says which.
 */
export function raiseFdLimit(pid) {
  const before = fdLimit(pid);
  if (!before) return 'unknown (the process is gone)';
  if (before.soft >= before.hard) return `${before.soft} (already the hard limit)`;
  try {
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${before.hard}:${before.hard}`], { stdio: 'ignore' });
  } catch {
    return `${before.soft} (raising to ${before.hard} refused, or prlimit missing: apt-get install util-linux)`;
  }
  const after = fdLimit(pid);
  return `${before.soft}→${after?.soft ?? '?'} raised`;
}

/** Open file descriptors of `pid` right now (entries of /proc/PID/fd), or undefined when it is gone. */
export function openFds(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}
