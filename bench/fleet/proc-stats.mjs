// Process figures for the fleet benchmark: the shared /proc readers (bench/lib/proc-stats.mjs) in the shapes
// run-fleet.mjs uses, and a light RSS sampler over several processes that keeps each one's maximum.
// Linux only; every reader returns undefined for a process that is gone.

import { cpuSeconds as cpuSplit, memoryKiB, resetPeakRss } from '../lib/proc-stats.mjs';

export { load1 } from '../lib/workload.mjs';

/** Resets VmHWM of `pid` to its current RSS (Linux >= 4.0). Returns false when the kernel refused. */
export const resetPeak = resetPeakRss;

/** user + system CPU seconds of `pid` (not its children), or undefined. */
export function cpuSeconds(pid) {
  const c = cpuSplit(pid);
  return c && c.user + c.sys;
}

/** { rss, hwm } of `pid` in KiB (VmRSS, VmHWM of /proc/PID/status), or undefined. */
export function memKiB(pid) {
  const m = memoryKiB(pid);
  return m && { rss: m.VmRSS, hwm: m.VmHWM };
}

/**
 * Samples the RSS of some processes every `intervalMs` and keeps each one's maximum (KiB). VmHWM is the exact
 * peak; the sampler is the fallback where clear_refs is not allowed, and shows the peak within a phase.
 * `groups` ({ name: [keys of pids] }) also keeps the maximum of each group's RSS summed at the same sample
 * (the fleet hosts together), which no single process's VmHWM gives.
 */
export class RssSampler {
  constructor(pids, intervalMs = 500, groups = {}) {
    this.pids = pids;
    this.groups = groups;
    this.max = Object.fromEntries([...Object.keys(pids), ...Object.keys(groups)].map((k) => [k, 0]));
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
    this.sample();
  }

  sample() {
    const now = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      const m = memKiB(pid);
      now[name] = m?.rss ?? 0;
      if (m && m.rss > this.max[name]) this.max[name] = m.rss;
    }
    for (const [name, keys] of Object.entries(this.groups)) {
      const sum = keys.reduce((s, k) => s + (now[k] ?? 0), 0);
      if (sum > this.max[name]) this.max[name] = sum;
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
