// Slot-write benchmark: what the slot writer (platform/slots/slot-writer.ts) costs and what it spares the flash.
// Writes an image into a slot — a loop device when run as root (bytes from /sys/block/loopN/stat: what reached the
// device), a file otherwise (bytes from /proc/self/io write_bytes) — in 64 KiB chunks as the network delivers them:
//   first     the image into a zeroed slot              reinstall  the same image again
//   changed   the image with 1% of its 4 KiB blocks changed (spread out)
//   noskip    the same image again with skipIdentical: false (the writer before blocks were compared)
//   noverify  the same image again with the read-back check off (its cost)
// usage: [SIZE_MIB=256] [ROUNDS=3] [TARGET=file] npm run bench:slots   → a Markdown table of medians on stdout

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const SIZE = Number(process.env.SIZE_MIB ?? 256) * 1024 * 1024;
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const dir = mkdtempSync(path.join(tmpdir(), 'fota-slotbench-'));
const lib = path.join(dir, 'slot-writer.mjs');
await build({ bundle: true, platform: 'node', format: 'esm', target: 'node18', logLevel: 'warning', absWorkingDir: root, entryPoints: [path.join(root, 'platform/slots/slot-writer.ts')], outfile: lib });
const { openSlotWriter } = await import(lib);

const file = path.join(dir, 'slot.img');
writeFileSync(file, '');
truncateSync(file, SIZE + 1024 * 1024);
let dev;
try {
  if (process.getuid?.() === 0 && process.env.TARGET !== 'file') dev = execFileSync('losetup', ['-f', '--show', file], { encoding: 'utf8' }).trim();
} catch {
  dev = undefined;
}
const target = dev ?? file;
const written = () =>
  dev
    ? Number(readFileSync(`/sys/block/${path.basename(dev)}/stat`, 'utf8').trim().split(/\s+/)[6]) * 512
    : Number(/write_bytes:\s*(\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))[1]);

async function install(image, opts = {}) {
  const w0 = written();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const w = await openSlotWriter(target, 0, SIZE + 1024 * 1024, opts);
  for (let at = 0; at < image.length; at += 64 * 1024) await w.write(image.subarray(at, at + 64 * 1024));
  await w.finish();
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { wallS, cpuS: (cpu.user + cpu.system) / 1e6, bytes: written() - w0 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = { first: [], reinstall: [], changed: [], noskip: [], noverify: [] };
try {
  for (let r = 0; r < ROUNDS; r++) {
    const image = randomBytes(SIZE);
    execFileSync('dd', ['if=/dev/zero', `of=${target}`, 'bs=1M', `count=${SIZE / 1048576}`, 'conv=fsync,notrunc', 'status=none']);
    if (dev) execFileSync('blockdev', ['--flushbufs', dev]);
    rows.first.push(await install(image));
    rows.reinstall.push(await install(image));
    const changed = Buffer.from(image);
    for (let b = 0; b < SIZE / 4096; b += 100) changed[b * 4096 + 17] ^= 0xff;
    rows.changed.push(await install(changed));
    rows.noskip.push(await install(changed, { skipIdentical: false }));
    rows.noverify.push(await install(changed, { verify: false }));
  }
} finally {
  if (dev) execFileSync('losetup', ['-d', dev]);
  rmSync(dir, { recursive: true, force: true });
}

console.log(`slot: ${dev ? `loop device (${dev}), bytes from /sys/block/*/stat` : 'file, bytes from /proc/self/io'}; image ${SIZE / 1048576} MiB; ${ROUNDS} rounds, medians; Node ${process.version}\n`);
console.log('| case | wall s | CPU s | MB/s | bytes written | of the image |');
console.log('|---|---|---|---|---|---|');
for (const [name, xs] of Object.entries(rows)) {
  const wall = median(xs.map((x) => x.wallS));
  const bytes = median(xs.map((x) => x.bytes));
  console.log(`| ${name} | ${wall.toFixed(2)} | ${median(xs.map((x) => x.cpuS)).toFixed(2)} | ${(SIZE / 1e6 / wall).toFixed(0)} | ${bytes.toLocaleString('en')} | ${((100 * bytes) / SIZE).toFixed(2)}% |`);
}
