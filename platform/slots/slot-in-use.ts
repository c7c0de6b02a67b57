// Is a slot the running system? Decided from what the kernel says, not from the bootloader's variables: the mounts in
// /proc/self/mountinfo (the device behind `/` and every other mount, through device-mapper/partition stacking in
// sysfs) and `root=` on /proc/cmdline. A slot that is mounted, or that root= names, is never written (RAUC refuses
// a mounted slot the same way).

import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveSlotSpec, type ResolveRoots } from './slot-spec.js';

/** The kernel's views; tests point them at files of their own. */
export interface KernelViews extends ResolveRoots {
  /** default /proc/self/mountinfo */
  mountinfo?: string;
  /** default /proc/cmdline */
  cmdline?: string;
  /** default /sys/dev/block (MAJ:MIN folders with holders/ and partitions) */
  sysDevBlock?: string;
}

export interface Mount {
  /** "MAJ:MIN" of the mounted filesystem's device */
  dev: string;
  mountPoint: string;
  source: string;
}

/** glibc gnu_dev_major / gnu_dev_minor on a 64-bit dev_t, as "MAJ:MIN". */
export function devKey(rdev: bigint): string {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** Unescapes mountinfo's octal escapes (\040 for a space). */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Parses /proc/self/mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER". */
export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 7 || sep < 0) continue;
    out.push({ dev: f[2]!, mountPoint: unescape(f[4]!), source: unescape(f[sep + 2] ?? '') });
  }
  return out;
}

/** The value of `key=` on a kernel command line (the last one wins, as in the kernel). */
export function cmdlineValue(cmdline: string, key: string): string | undefined {
  let v: string | undefined;
  for (const t of cmdline.trim().split(/\s+/)) if (t.startsWith(`${key}=`)) v = t.slice(key.length + 1);
  return v;
}

/**
 * The devices whose use makes `key` busy: itself, its partitions (writing a whole disk destroys them), and
 * everything stacked on it (device-mapper, md: sysfs holders/), recursively.
 */
async function related(key: string, sysDevBlock: string, seen = new Set<string>()): Promise<Set<string>> {
  if (seen.has(key)) return seen;
  seen.add(key);
  const dir = join(sysDevBlock, key);
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    // a partition is a subfolder with a `dev` file; holders/ lists stacked devices by name
    if (e.name === 'holders') {
      for (const h of await readdir(join(dir, 'holders')).catch(() => [] as string[])) {
        const dev = (await readFile(join(dir, 'holders', h, 'dev'), 'utf8').catch(() => '')).trim();
        if (dev) await related(dev, sysDevBlock, seen);
      }
    } else if (e.isDirectory() || e.isSymbolicLink()) {
      const part = await readFile(join(dir, e.name, 'partition'), 'utf8').catch(() => undefined);
      const dev = part !== undefined ? (await readFile(join(dir, e.name, 'dev'), 'utf8').catch(() => '')).trim() : '';
      if (dev) await related(dev, sysDevBlock, seen);
    }
  }
  return seen;
}

/**
 * Why `slotPath` must not be written now (it or something on it is mounted, or root= names it), or undefined.
 * A regular file (tests, the simulator) is compared with root= by path only.
 */
export async function slotInUse(slotPath: string, views: KernelViews = {}): Promise<string | undefined> {
  const st = await stat(slotPath, { bigint: true }).catch(() => undefined);
  const cmdline = await readFile(views.cmdline ?? '/proc/cmdline', 'utf8').catch(() => '');
  const root = cmdlineValue(cmdline, 'root');
  const rootPath = root ? await resolveSlotSpec(root, views).catch(() => realpath(root).catch(() => root)) : undefined;
  if (st?.isBlockDevice()) {
    const busy = await related(devKey(st.rdev), views.sysDevBlock ?? '/sys/dev/block');
    const mounts = parseMountinfo(await readFile(views.mountinfo ?? '/proc/self/mountinfo', 'utf8').catch(() => ''));
    const hit = mounts.find((m) => busy.has(m.dev));
    if (hit) return hit.mountPoint === '/' ? `${slotPath} holds the running root filesystem (${hit.dev} is mounted at /)` : `${slotPath} is in use: ${hit.dev} (${hit.source}) is mounted at ${hit.mountPoint}`;
    if (rootPath) {
      const r = await stat(rootPath, { bigint: true }).catch(() => undefined);
      if (r?.isBlockDevice() && busy.has(devKey(r.rdev))) return `${slotPath} is the root device the kernel was booted with (root=${root})`;
    }
    return undefined;
  }
  if (rootPath && rootPath === (await realpath(slotPath).catch(() => slotPath))) return `${slotPath} is the root device the kernel was booted with (root=${root})`;
  return undefined;
}
