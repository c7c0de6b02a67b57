// A process whose wall clock is off (libfaketime, Debian package `faketime`; .ci/run installs it): the environment
// to pass to spawn(). Only the wall clock moves; the monotonic clock stays true, as on a device whose RTC is wrong.

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

function library(): string {
  for (const dir of ['/usr/lib', ...readdirSync('/usr/lib').map((d) => join('/usr/lib', d))]) {
    const lib = join(dir, 'faketime', 'libfaketime.so.1');
    if (existsSync(lib)) return lib;
  }
  throw new Error('libfaketime is missing: apt-get install faketime (.ci/run installs it)');
}

/** Environment for a process (and its children) whose wall clock runs `offset` off, e.g. '-10s', '+1h'. */
export function skewedClockEnv(offset: string): Record<string, string> {
  return { LD_PRELOAD: library(), FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_NO_CACHE: '1' };
}
