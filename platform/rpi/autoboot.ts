// autoboot.txt, the Raspberry Pi firmware's partition selector (raspberrypi/documentation config_txt/autoboot.adoc): on
// the first FAT partition, at most 512 bytes, `[all] tryboot_a_b=1 boot_partition=N` plus `[tryboot] boot_partition=M`,
// the partition the firmware boots after `reboot "0 tryboot"` (once: the flag is gone at the next reset). Parsing and
// rendering are pure; two stores change the file safely: on a mounted FAT (new file, fsync, rename, fsync of the
// folder) or on an unmounted one with mtools (copy, then a rename over the old name; then fsync of the device).

import { execFile } from 'node:child_process';
import { mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The firmware reads at most this much of autoboot.txt. */
export const AUTOBOOT_MAX_BYTES = 512;

export interface Autoboot {
  tryboot_a_b: boolean;
  /** [all] boot_partition: what boots normally (the committed slot) */
  all: number | undefined;
  /** [tryboot] boot_partition: what boots once after reboot "0 tryboot" */
  tryboot: number | undefined;
}

/** Reads the [all] and [tryboot] sections; other sections and unknown keys are ignored, as the firmware does. */
export function parseAutoboot(text: string): Autoboot {
  const out: Autoboot = { tryboot_a_b: false, all: undefined, tryboot: undefined };
  let section = 'all';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*$/, '').trim();
    const sec = /^\[(\w+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!.toLowerCase();
      continue;
    }
    const kv = /^(\w+)\s*=\s*(\S+)$/.exec(line);
    if (!kv) continue;
    if (kv[1] === 'tryboot_a_b' && section === 'all') out.tryboot_a_b = kv[2] === '1';
    if (kv[1] === 'boot_partition' && (section === 'all' || section === 'tryboot')) out[section] = Number(kv[2]);
  }
  return out;
}

/** The file fota writes: the official example's layout. */
export function renderAutoboot(all: number, tryboot: number): string {
  return `[all]\ntryboot_a_b=1\nboot_partition=${all}\n[tryboot]\nboot_partition=${tryboot}\n`;
}

export interface AutobootStore {
  /** where it lives, for messages */
  readonly where: string;
  /** the file's text, or undefined when there is none */
  read(): Promise<string | undefined>;
  /** replaces the file; durable when it resolves */
  write(text: string): Promise<void>;
}

async function fsyncPath(path: string, flags: string): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * autoboot.txt on a mounted FAT. Linux's vfat rename over an existing name rewrites that name's directory entry to
 * point at the new file before the old entry goes, so autoboot.txt always exists.
 */
export function mountedAutoboot(dir: string): AutobootStore {
  const file = join(dir, 'autoboot.txt');
  return {
    where: file,
    read: () => readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e))),
    async write(text) {
      const tmp = join(dir, 'autoboot.new');
      await writeFile(tmp, text);
      await fsyncPath(tmp, 'r+');
      await rename(tmp, file);
      await fsyncPath(dir, 'r');
    },
  };
}

function mtools(tool: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    // MTOOLS_SKIP_CHECK: a partition (or an image) holds a FAT without a partition table around it
    execFile(tool, args, { timeout: 30_000, encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } }, (err, stdout, stderr) =>
      err ? reject(new Error(`${tool} ${args.join(' ')} failed: ${String(stderr).trim() || err.message}`)) : resolve(stdout),
    );
  });
}

/** autoboot.txt on an unmounted FAT partition (or image), through mtools: never while the kernel has it mounted. */
export function mtoolsAutoboot(device: string): AutobootStore {
  return {
    where: `${device}::autoboot.txt`,
    async read() {
      const listing = await mtools('mdir', ['-b', '-i', device, '::']);
      if (!/(^|\/)autoboot\.txt$/im.test(listing)) return undefined;
      return mtools('mtype', ['-i', device, '::autoboot.txt']);
    },
    async write(text) {
      const dir = await mkdtemp(join(tmpdir(), 'fota-autoboot-'));
      try {
        const src = join(dir, 'autoboot.txt');
        await writeFile(src, text);
        await mtools('mcopy', ['-o', '-i', device, src, '::autoboot.new']);
        // one directory sector holds both names in a small root directory: the rename is one sector write
        await mtools('mmove', ['-D', 'o', '-i', device, '::autoboot.new', '::autoboot.txt']);
        await fsyncPath(device, 'r+');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
