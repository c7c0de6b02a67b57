// Reads process figures from Linux /proc: CPU ticks (stat), memory fields (status), the peak-RSS reset
// (clear_refs 5), children, and a light RSS sampler. Linux only; every reader returns undefined for a gone pid.

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

/** USER_HZ: the unit of utime/stime in /proc/PID/stat (100 on every x86_64/arm Linux, asked once anyway). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime and stime of `pid` in seconds (the process itself, not its children), or undefined. */
export function cpuSeconds(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // after the command: f[0] = field 3 (state) … f[11] = field 14 (utime), f[12] = field 15 (stime)
    return { user: Number(f[11]) / CLK_TCK, sys: Number(f[12]) / CLK_TCK };
  } catch {
    return undefined;
  }
}

/** The Vm and Rss fields of /proc/PID/status in KiB ({ VmRSS, VmHWM, RssAnon, RssFile, … }), or undefined. */
export function memoryKiB(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  const out = {};
  for (const m of text.matchAll(/^((?:Vm|Rss)\w+):\s+(\d+) kB$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

/**
 * Resets VmHWM of `pid` to its current RSS (`echo 5 > /proc/PID/clear_refs`, Linux >= 4.0; needs the same user or
 * root). Returns false when the kernel refused: VmHWM then stays the lifetime peak.
 */
export function resetPeakRss(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Direct children of `pid` (from /proc/PID/task/TID/children). */
export function childPids(pid) {
  const out = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1').trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // the process is gone: no children
  }
  return out;
}

/** The command line of `pid` as an argv array ([] when gone). */
export function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * Samples VmRSS, RssAnon and RssFile of `pid` every `intervalMs` (default 100) until stop(); stop() returns the
 * peaks in KiB. A cross-check for VmHWM and the only source of the anonymous/file split at the peak.
 */
export function sampleRss(pid, intervalMs = 100) {
  const peak = { VmRSS: 0, RssAnon: 0, RssFile: 0, samples: 0 };
  const take = () => {
    const m = memoryKiB(pid);
    if (!m) return;
    peak.samples++;
    for (const k of ['VmRSS', 'RssAnon', 'RssFile']) peak[k] = Math.max(peak[k], m[k] ?? 0);
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return peak;
    },
  };
}
