// Peak memory of a whole process tree (a shell pipeline, swupdate and its downloader, mender): every `intervalMs` it
// finds the descendants of a root pid in /proc and sums their RSS, PSS and private memory (smaps_rollup, as
// proc-stats.mjs smapsKiB). GNU time reports only the largest single process; a tool's cost is the sum. Linux only.

import { readFileSync, readdirSync } from 'node:fs';
import { sampling, smapsKiB } from './proc-stats.mjs';

/** pid → parent pid for every process now in /proc. */
function parents() {
  const out = new Map();
  for (const d of readdirSync('/proc')) {
    const c = d.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'latin1');
      out.set(Number(d), Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone between readdir and read
    }
  }
  return out;
}

/** `root` and its descendants now (root included when `self`). */
export function treePids(root, self = true) {
  const kids = new Map();
  for (const [pid, ppid] of parents()) {
    if (!kids.has(ppid)) kids.set(ppid, []);
    kids.get(ppid).push(pid);
  }
  const out = self ? [root] : [];
  const stack = [...(kids.get(root) ?? [])];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(kids.get(p) ?? []));
  }
  return out;
}

/**
 * Samples the tree under `root` (`self`: root itself counts; false when root is a wrapper such as bash whose own
 * memory is not the tool's) until stop(), which returns the peaks of the sums in KiB: { rss, pss, private, samples }.
 */
export function sampleTree(root, { intervalMs = 50, self = true } = {}) {
  const peak = { rss: 0, pss: 0, private: 0, samples: 0 };
  const take = () => {
    const sum = { rss: 0, pss: 0, private: 0 };
    let seen = 0;
    for (const pid of treePids(root, self)) {
      const m = smapsKiB(pid);
      if (!m) continue; // a zombie or a kernel thread has no smaps
      seen++;
      for (const k of ['rss', 'pss', 'private']) sum[k] += m[k];
    }
    if (seen === 0) return;
    peak.samples++;
    for (const k of ['rss', 'pss', 'private']) peak[k] = Math.max(peak[k], sum[k]);
  };
  return sampling(take, intervalMs, peak);
}
