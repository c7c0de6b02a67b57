// The synthetic job history both job benchmarks seed (bench/query-bench.mjs, bench/fleet/seed.ts): the mix of job
// types with their parameters, and a deterministic random source (mulberry32) so every run sees the same data.

import type { JobParameters, JobType } from '../../hub/jobs/job-model.js';

/** job types with their weight in the history */
export const JOB_TYPE_MIX: [JobType, number][] = [['firmware-update', 50], ['reboot', 15], ['read-device-properties', 15], ['configuration-update', 10], ['write-device-properties', 5], ['factory-reset', 5]];

export const JOB_PARAMS: Record<JobType, JobParameters> = {
  'firmware-update': { timeoutSeconds: 1800, packageUri: 'https://fw.example/releases/2.4.1/image.fota', maxInFlight: 20, abortFailureRatio: 0.2 },
  reboot: { timeoutSeconds: 300 },
  'factory-reset': { timeoutSeconds: 600 },
  'read-device-properties': { timeoutSeconds: 60, paths: ['/3/0/3', '/3/0/10'] },
  'write-device-properties': { timeoutSeconds: 60, values: { '/3/0/14': '+01:00' } },
  'configuration-update': { timeoutSeconds: 120, config: { progressIntervalMs: 1000 } },
};

/** A seeded random source: rnd() in [0, 1), and weighted(pairs) picking a value by weight. */
export function seededRandom(initial = 1): { rnd: () => number; weighted: <T>(pairs: [T, number][]) => T } {
  let seed = initial;
  const rnd = () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const weighted = <T>(pairs: [T, number][]): T => {
    let r = rnd() * pairs.reduce((s, [, w]) => s + w, 0);
    for (const [v, w] of pairs) if ((r -= w) < 0) return v;
    return pairs[pairs.length - 1]![0];
  };
  return { rnd, weighted };
}
