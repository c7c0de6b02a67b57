// Clock port on the system clock and timers. Node's timers and performance.now() run on CLOCK_MONOTONIC (libuv
// uv_hrtime), so a wall clock set back or forth moves neither sleeps nor measured intervals.

import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../core/ports.js';

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: async (ms, signal) => {
    await delay(ms, undefined, signal ? { signal } : undefined);
  },
};
