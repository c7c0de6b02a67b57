// Process figures from Linux /proc for the fleet benchmark: CPU seconds (utime + stime of the process itself),
// resident memory (VmRSS, VmHWM), the peak reset (clear_refs 5) and a light RSS sampler that keeps the maximum.
// Linux only; every reader returns undefined for a process that is gone.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** USER_HZ, the unit of utime/stime (100 on every common Linux; asked once anyway). */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** user + system CPU seconds of `pid` (not its children), or undefined. */
export function cpuSeconds(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // f[11] = field 14 (utime), f[12] = field 15 (stime), in clock ticks
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** { rss, hwm } of `pid` in KiB (VmRSS, VmHWM of /proc/PID/status), or undefined. */
export function memKiB(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'latin1');
    const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { rss: field('VmRSS'), hwm: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Resets VmHWM of `pid` to its current RSS (Linux >= 4.0). Returns false when the kernel refused. */
export function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Samples the RSS of some processes every `intervalMs` and keeps each one's maximum (KiB). VmHWM is the exact
 * peak; the sampler is the fallback where clear_refs is not allowed, and shows the peak within a phase.
 */
export class RssSampler {
  constructor(pids, intervalMs = 500) {
    this.pids = pids;
    this.max = Object.fromEntries(Object.keys(pids).map((k) => [k, 0]));
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
    this.sample();
  }

  sample() {
    for (const [name, pid] of Object.entries(this.pids)) {
      const m = memKiB(pid);
      if (m && m.rss > this.max[name]) this.max[name] = m.rss;
    }
  }

  /** Restarts every maximum from the current RSS. */
  reset() {
    for (const k of Object.keys(this.max)) this.max[k] = 0;
    this.sample();
  }

  stop() {
    clearInterval(this.timer);
    this.sample();
  }
}

/** The 1-minute load average (a busy machine skews every figure here). */
export function load1() {
  try {
    return Number(readFileSync('/proc/loadavg', 'latin1').split(' ')[0]);
  } catch {
    return NaN;
  }
}
