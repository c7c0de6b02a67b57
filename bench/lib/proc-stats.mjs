// Reads process figures from Linux /proc: CPU ticks (stat), memory fields (status), the peak-RSS reset
// (clear_refs 5), children, smaps_rollup (PSS, private memory) and a light sampler. Linux only; every reader returns undefined for a gone pid.

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
 * The memory of `pid` as a board sees it, from /proc/PID/smaps_rollup (Linux >= 4.14), in KiB, or undefined:
 * - rss: every resident page, file-backed ones included (the node binary's text: clean, the kernel can drop it);
 * - pss: each page divided by the number of processes mapping it (on a board with one Node process, pss ≈ rss;
 *   on a machine where other Node processes run, the binary's pages are shared and pss is lower);
 * - private: pages only this process holds that the kernel cannot drop without swap: anonymous memory (heap,
 *   buffers, stacks) and privately dirtied file pages. = Anonymous, plus Private_Dirty beyond it (file pages).
 */
export function smapsKiB(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
  } catch {
    return undefined;
  }
  const f = {};
  for (const m of text.matchAll(/^(\w+):\s+(\d+) kB$/gm)) f[m[1]] = Number(m[2]);
  if (f.Rss === undefined) return undefined;
  const anon = f.Anonymous ?? 0;
  return { rss: f.Rss, pss: f.Pss ?? 0, anon, privateDirty: f.Private_Dirty ?? 0, private: anon + Math.max(0, (f.Private_Dirty ?? 0) - anon) };
}

/**
 * Samples `pid` every `intervalMs` (default 50: a download's peak lasts longer than that) until stop(); stop()
 * returns the peaks in KiB: VmRSS, RssAnon and RssFile from /proc/PID/status, and Pss and private from smaps_rollup
 * (smapsKiB). VmHWM is the exact RSS peak; the others are only as good as the sampling.
 */
export function sampleRss(pid, intervalMs = 50) {
  const peak = { VmRSS: 0, RssAnon: 0, RssFile: 0, Pss: 0, Private: 0, samples: 0 };
  const take = () => {
    const m = memoryKiB(pid);
    if (!m) return;
    peak.samples++;
    for (const k of ['VmRSS', 'RssAnon', 'RssFile']) peak[k] = Math.max(peak[k], m[k] ?? 0);
    const s = smapsKiB(pid);
    if (s) {
      peak.Pss = Math.max(peak.Pss, s.pss);
      peak.Private = Math.max(peak.Private, s.private);
    }
  };
  return sampling(take, intervalMs, peak);
}

/** Calls `take` now and every `intervalMs`; stop() takes a last sample and returns `peak` (which `take` updates). */
export function sampling(take, intervalMs, peak) {
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
