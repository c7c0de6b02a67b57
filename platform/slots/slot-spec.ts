// Slot specifications as an integrator writes them — a device path (`/dev/mmcblk0p3`, `/dev/disk/by-partlabel/rootfs-b`)
// or a partition tag (`PARTLABEL=rootfs-b`, `PARTUUID=…`, as on a kernel command line) — resolved to one device node
// at start. Resolution goes through udev's /dev/disk links, then sysfs (PARTNAME) or blkid where udev is absent
// (busybox/Yocto images). Two partitions with the same label (a USB stick holding a copy of the image) are refused.

import { execFile } from 'node:child_process';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';

export class SlotSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SlotSpecError';
  }
}

/** Where resolution looks; tests point these at folders of their own. */
export interface ResolveRoots {
  /** udev's links (default /dev/disk) */
  devDisk?: string;
  /** one folder per block device with a uevent file (default /sys/class/block) */
  sysBlock?: string;
  /** device nodes (default /dev) */
  dev?: string;
  /** the blkid tool, for PARTUUID without udev (default "blkid" on PATH) */
  blkid?: string;
}

const TAG = /^(PARTLABEL|PARTUUID)=(.+)$/;

/** Why `spec` is not a slot specification, or undefined when it is one. Synchronous: for configuration checks. */
export function slotSpecProblem(spec: unknown): string | undefined {
  if (typeof spec !== 'string' || spec === '') return 'must be a device path or PARTLABEL=…/PARTUUID=…';
  if (/^(PARTLABEL|PARTUUID)=$/.test(spec)) return `${spec.slice(0, -1)} needs a value, e.g. ${spec}rootfs-b`;
  const tag = TAG.exec(spec);
  if (tag) return /[/\s]/.test(tag[2]!) ? `${tag[1]} value must not contain "/" or spaces` : undefined;
  if (!spec.startsWith('/')) return `must be an absolute path or PARTLABEL=…/PARTUUID=… (got ${JSON.stringify(spec)})`;
  return undefined;
}

/** The device a slot specification names today: the real path of its node (symlinks resolved). Throws SlotSpecError. */
export async function resolveSlotSpec(spec: string, roots: ResolveRoots = {}): Promise<string> {
  const tag = TAG.exec(spec);
  if (!tag) return existing(spec, spec);
  const [, kind, value] = tag as unknown as [string, 'PARTLABEL' | 'PARTUUID', string];
  const devDisk = roots.devDisk ?? '/dev/disk';
  if (kind === 'PARTLABEL') {
    const bySysfs = await partitionsNamed(value, roots);
    if (bySysfs.length > 1) throw new SlotSpecError(`${spec}: ${bySysfs.length} partitions carry this label (${bySysfs.join(', ')}); remove the extra disk or name the slot by PARTUUID`);
    const link = await realpath(join(devDisk, 'by-partlabel', value)).catch(() => undefined);
    if (link) return link;
    if (bySysfs[0]) return existing(bySysfs[0], spec);
    throw new SlotSpecError(`${spec}: no partition has this label (looked in ${devDisk}/by-partlabel and ${roots.sysBlock ?? '/sys/class/block'}); check the partition table (sfdisk -l / sgdisk -p)`);
  }
  const uuid = value.toLowerCase();
  const link = await realpath(join(devDisk, 'by-partuuid', uuid)).catch(() => undefined);
  if (link) return link;
  const found = await blkidPartuuid(uuid, roots.blkid ?? 'blkid');
  if (found) return existing(found, spec);
  throw new SlotSpecError(`${spec}: no partition has this PARTUUID (looked in ${devDisk}/by-partuuid and with blkid); check it with: blkid -o export`);
}

async function existing(path: string, spec: string): Promise<string> {
  try {
    const real = await realpath(path);
    const st = await stat(real);
    if (!st.isBlockDevice() && !st.isFile()) throw new SlotSpecError(`${spec}: ${real} is neither a block device nor a file`);
    return real;
  } catch (e) {
    if (e instanceof SlotSpecError) throw e;
    throw new SlotSpecError(`${spec}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such device' : (e as Error).message}`);
  }
}

/** Device nodes of the partitions whose GPT name is `label`, from the PARTNAME= line of each uevent file. */
async function partitionsNamed(label: string, roots: ResolveRoots): Promise<string[]> {
  const sysBlock = roots.sysBlock ?? '/sys/class/block';
  const names = await readdir(sysBlock).catch(() => [] as string[]);
  const out: string[] = [];
  for (const name of names) {
    const uevent = await readFile(join(sysBlock, name, 'uevent'), 'utf8').catch(() => '');
    const fields = new Map(uevent.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
    if (fields.get('PARTNAME') === label) out.push(join(roots.dev ?? '/dev', fields.get('DEVNAME') ?? name));
  }
  return out.sort();
}

/** `blkid -l -o device -t PARTUUID=…`: the first device with that partition UUID, or undefined. */
function blkidPartuuid(uuid: string, blkid: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(blkid, ['-l', '-o', 'device', '-t', `PARTUUID=${uuid}`], { timeout: 10_000 }, (err, stdout) => {
      const dev = String(stdout).trim().split('\n')[0];
      resolve(err || !dev ? undefined : dev);
    });
  });
}

/** The partition number at the end of a device name (mmcblk0p3 → 3, sda2 → 2), or undefined. */
export function partitionNumber(path: string): number | undefined {
  const m = /\D(\d+)$/.exec(path);
  return m ? Number(m[1]) : undefined;
}
