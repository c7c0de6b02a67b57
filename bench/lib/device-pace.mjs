// A device's pace for the peers benchmark: on loopback every tool runs as fast as the CPU allows, while on a device
// the network is slower than the slot, and the slot reads slower than a page cache. NET_MBPS holds the loopback
// network (a tc token bucket on `lo`, both directions of every loopback connection, the broker's included);
// SLOT_READ_MBPS holds reads of the slots' block devices for this process and every process it starts afterwards (a
// blkio cgroup on cgroup v1, io.max on v2, that the benchmark moves itself into). Both are undone by release(), which
// the benchmark runs on every exit path; `tc qdisc del dev lo root` and moving the process out by hand undo them too.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const CGROUP = '/sys/fs/cgroup';

/** What stops the pace from being set here (an empty list: nothing). */
export function paceProblems({ netMBps, readMBps, slotsAreDevices }) {
  const problems = [];
  for (const [name, v] of [['NET_MBPS', netMBps], ['SLOT_READ_MBPS', readMBps]]) {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) problems.push(`${name} must be a positive number of MB/s`);
  }
  if (netMBps !== undefined) {
    let qdisc = '';
    try {
      qdisc = execFileSync('tc', ['qdisc', 'show', 'dev', 'lo'], { encoding: 'utf8' });
    } catch {
      problems.push('NET_MBPS needs tc: apt-get install iproute2');
    }
    if (/\b(tbf|netem|htb)\b/.test(qdisc)) problems.push(`lo already has a queueing discipline (${qdisc.trim()}): remove it first (tc qdisc del dev lo root)`);
  }
  if (readMBps !== undefined) {
    if (!slotsAreDevices) problems.push('SLOT_READ_MBPS needs loop-device slots (losetup), not files');
    if (!existsSync(path.join(CGROUP, 'blkio')) && !/\bio\b/.test(readIf(path.join(CGROUP, 'cgroup.controllers')))) problems.push('SLOT_READ_MBPS needs the blkio (cgroup v1) or io (cgroup v2) controller');
  }
  return problems;
}

function readIf(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** { release() } that runs `undo` once; a failure leaves the rest to undo by hand (the file's first lines say how). */
function releaser(undo) {
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      try {
        undo();
      } catch {
        // already undone, or a child still in the cgroup (it goes when rmdir'd by hand)
      }
    },
  };
}

/** Holds the loopback network to `mbps` MB/s (10^6 bytes). */
export function holdNetwork(mbps) {
  execFileSync('tc', ['qdisc', 'add', 'dev', 'lo', 'root', 'tbf', 'rate', `${Math.round(mbps * 8)}mbit`, 'burst', '256kb', 'latency', '200ms']);
  return releaser(() => execFileSync('tc', ['qdisc', 'del', 'dev', 'lo', 'root'], { stdio: 'ignore' }));
}

/** "MAJ:MIN" of a block device. */
function majMin(device) {
  const rdev = statSync(device).rdev;
  return `${(rdev >> 8) & 0xfff}:${(rdev & 0xff) | ((rdev >> 12) & 0xfff00)}`;
}

/**
 * Holds reads of `devices` to `mbps` MB/s for this process and the processes it starts from now on: a cgroup of its
 * own, with the limit, that this process moves into; release() moves it back and removes the cgroup.
 */
export function holdSlotReads(devices, mbps) {
  const bps = Math.round(mbps * 1e6);
  const v1 = existsSync(path.join(CGROUP, 'blkio'));
  const parent = v1 ? path.join(CGROUP, 'blkio') : path.join(CGROUP, /^0::(.*)$/m.exec(readIf('/proc/self/cgroup'))?.[1] ?? '/');
  const dir = path.join(v1 ? parent : CGROUP, `fota-peers-bench-${process.pid}`);
  if (!v1) writeFileSync(path.join(CGROUP, 'cgroup.subtree_control'), '+io');
  mkdirSync(dir);
  for (const d of devices) {
    if (v1) writeFileSync(path.join(dir, 'blkio.throttle.read_bps_device'), `${majMin(d)} ${bps}`);
    else writeFileSync(path.join(dir, 'io.max'), `${majMin(d)} rbps=${bps}`);
  }
  writeFileSync(path.join(dir, 'cgroup.procs'), String(process.pid));
  return releaser(() => {
    writeFileSync(path.join(parent, 'cgroup.procs'), String(process.pid));
    rmdirSync(dir);
  });
}
