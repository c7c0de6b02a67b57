// Preparation of the benchmark's inputs and of each run: signed packages made with the real CLI, the disk-space
// check, and the untimed steps before every run (slot reset, served file read into the page cache, sync).

import { execFile as execFileCb, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, fdatasyncSync, openSync, readFileSync, readSync, rmSync, statSync, statfsSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { MiB } from './report.mjs';

const execFile = promisify(execFileCb);

/** Bytes the run needs under `dir`: every package, the biggest raw image while packing, slot B, 512 MiB spare. */
export function bytesNeeded(sizesMib) {
  const total = sizesMib.reduce((s, m) => s + m, 0);
  return (total + 2 * Math.max(...sizesMib) + 512) * MiB;
}

/** Throws a readable error when `dir` has less than `bytes` free. */
export function checkFreeSpace(dir, bytes) {
  const st = statfsSync(dir);
  const free = st.bavail * st.bsize;
  if (free < bytes) {
    throw new Error(`not enough free disk space under ${dir}: ${(free / 2 ** 30).toFixed(1)} GiB free, ${(bytes / 2 ** 30).toFixed(1)} GiB needed; free some space, point BENCH_DIR elsewhere or lower SIZES_MIB`);
  }
  return free;
}

/** SHA-256 of a file, streaming. */
export async function sha256File(file) {
  const hash = createHash('sha256');
  for await (const c of createReadStream(file, { highWaterMark: MiB })) hash.update(c);
  return hash.digest('hex');
}

/**
 * Makes a signing key and, per size, a simulated image packed into a signed package (the raw image is deleted
 * afterwards). Returns { pubKey, packages: Map(sizeMib → { file, name, bytes, sha256 }) }.
 */
export async function makePackages({ fotaBin, wwwDir, keyDir, sizesMib, log }) {
  const key = path.join(keyDir, 'bench');
  await execFile(process.execPath, [fotaBin, 'keygen', '-o', key]);
  const packages = new Map();
  for (const size of sizesMib) {
    const image = path.join(wwwDir, `image-${size}M.img`);
    const name = `fw-2.0.0-${size}M.fota`;
    const file = path.join(wwwDir, name);
    const t0 = performance.now();
    await execFile(process.execPath, [fotaBin, 'sim', 'image', '--version', '2.0.0', '--size', `${size}M`, '-o', image]);
    await execFile(process.execPath, [fotaBin, 'pack', '--image', image, '--version', '2.0.0', '--device-type', 'fota-sim', '--key', `${key}.key`, '-o', file]);
    rmSync(image);
    packages.set(size, { file, name, bytes: statSync(file).size, sha256: await sha256File(file) });
    log(`package ${name}: ${statSync(file).size} bytes (${((performance.now() - t0) / 1000).toFixed(1)} s to make)`);
  }
  return { pubKey: `${key}.pub`, packages };
}

/** Reads a whole file once so that the HTTP server sends it from the page cache. */
export function warmPageCache(file) {
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(4 * MiB);
  try {
    while (readSync(fd, buf, 0, buf.length, null) > 0);
  } finally {
    closeSync(fd);
  }
}

/**
 * Resets the slot file before a run, keeping its size (= the slot's capacity).
 * 'discard': truncate to 0 and back: the blocks are freed and the slot's page cache dropped, so every run writes
 *   into fresh pages and newly allocated blocks, like a freshly erased partition (peers' RESET=discard).
 * 'zero': overwrite the first `bytes` (rounded up to 1 MiB) with zeros and fdatasync; the pages stay cached, so the
 *   run reuses allocated page-cache pages and blocks (peers' RESET=zero; less noise from memory faulting in).
 */
export function resetSlot(slot, capacity, mode, bytes) {
  if (mode === 'zero') {
    const fd = openSync(slot, 'r+');
    const zeros = Buffer.alloc(MiB);
    try {
      for (let off = 0; off < bytes; off += MiB) writeSync(fd, zeros, 0, MiB, off);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return;
  }
  truncateSync(slot, 0);
  truncateSync(slot, capacity);
}

/** `sync`: nothing dirty from the preparation is written back during the timed run. */
export function syncAll() {
  execFileSync('sync');
}

/** Aggregate CPU counters from /proc/stat; stealPct(a, b) = steal share of all CPU time between two snapshots. */
export function cpuCounters() {
  const f = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  return { total: f.slice(0, 8).reduce((s, x) => s + x, 0), steal: f[7] ?? 0 };
}
export function stealPct(a, b) {
  const d = b.total - a.total;
  return d > 0 ? (100 * (b.steal - a.steal)) / d : 0;
}
export function load1() {
  return Number(readFileSync('/proc/loadavg', 'latin1').split(' ')[0]);
}
