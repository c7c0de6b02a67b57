// Real small and read-only filesystems for tests: a tmpfs of a given size mounted on a folder the test made, filled
// up, grown, remounted read-only and back, unmounted in teardown. chmod does not stop root, so read-only is a
// read-only remount. Needs root (CI runs as root) or passwordless sudo for mount/umount.

import { execFile } from 'node:child_process';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

async function privileged(cmd: string, args: string[]): Promise<void> {
  const [bin, argv] = process.getuid?.() === 0 ? [cmd, args] : ['sudo', ['-n', cmd, ...args]];
  await run(bin, argv);
}

export interface SmallFs {
  dir: string;
  /** writes a filler file until the filesystem is full (ENOSPC) */
  fill(): Promise<void>;
  /** removes the filler */
  free(): Promise<void>;
  /** a new size (e.g. '16m'), keeping the content */
  resize(size: string): Promise<void>;
  readOnly(on: boolean): Promise<void>;
  unmount(): Promise<void>;
}

/** Mounts a tmpfs of `size` (e.g. '1m') on the existing, empty folder `dir`. */
export async function mountTmpfs(dir: string, size: string): Promise<SmallFs> {
  await privileged('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  const filler = join(dir, '.filler');
  let mounted = true;
  return {
    dir,
    async fill() {
      const fh = await open(filler, 'a');
      const chunk = new Uint8Array(4096).fill(1);
      try {
        for (;;) await fh.write(chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      } finally {
        await fh.close();
      }
    },
    free: () => rm(filler, { force: true }),
    resize: (to) => privileged('mount', ['-o', `remount,size=${to}`, dir]),
    readOnly: (on) => privileged('mount', ['-o', `remount,${on ? 'ro' : 'rw'}`, dir]),
    async unmount() {
      if (!mounted) return;
      mounted = false;
      // lazy: a process that still has a file open there must not keep the test's folder mounted
      await privileged('umount', ['-l', dir]);
    },
  };
}
