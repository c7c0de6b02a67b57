// The fleet spread over several fleet-host processes (bench/fleet/fleet-host-main.ts, each a FleetHost built on
// agent/compose.ts): ids split into contiguous slices of at most `perHost` devices, each host with its own fd budget
// (soft RLIMIT_NOFILE raised to the hard limit) and its own log DIR/agents-K.log. One handle for run-fleet.mjs.
//
// INVARIANTS
// - Every host is forked and registered (processes.mjs) before any is initialised: stopAll() reaches all of them.
// - stop() stops every host, also when one of them failed or died.

import { raiseFdLimit } from './fd-limit.mjs';
import { forkFleetHost } from './processes.mjs';

/** `ids` in `ceil(ids.length / perHost)` contiguous slices of near-equal size. */
export function slices(ids, perHost) {
  const k = Math.max(1, Math.ceil(ids.length / perHost));
  const size = Math.ceil(ids.length / k);
  return Array.from({ length: k }, (_, i) => ids.slice(i * size, (i + 1) * size)).filter((s) => s.length > 0);
}

/**
 * Forks the hosts and initialises each with its slice. `options`: FleetHostOptions without ids; `concurrency` is
 * the fleet's total start concurrency, shared between the hosts (so more hosts do not mean a bigger connect storm).
 * Returns { hosts, pids, fdLimits, start(), reports(), statuses(), died(), stop(timeoutMs) }.
 */
export async function startFleetGroup(dir, { bundle, nodeOptions, nice, ids, perHost, options }) {
  const parts = slices(ids, perHost);
  const hosts = [];
  try {
    for (let i = 0; i < parts.length; i++) hosts.push(await forkFleetHost(dir, { bundle, nodeOptions, nice, name: `fleet host ${i + 1}/${parts.length}`, logName: `agents-${i + 1}.log` }));
  } catch (e) {
    await Promise.all(hosts.map((h) => h.stop(10_000).catch(() => undefined)));
    throw e;
  }
  // Node already raises its own soft limit to the hard one at start; this makes it explicit and says what it is
  const fdLimits = hosts.map((h) => raiseFdLimit(h.pid));
  const concurrency = Math.max(1, Math.ceil((options.concurrency ?? 32) / hosts.length));
  try {
    await Promise.all(
      hosts.map((h, i) => {
        const ready = h.next('ready', 30_000);
        h.send({ type: 'init', options: { ...options, ids: parts[i], concurrency } });
        return ready;
      }),
    );
  } catch (e) {
    await Promise.all(hosts.map((h) => h.stop(10_000).catch(() => undefined)));
    throw e;
  }
  return {
    hosts,
    sizes: parts.map((p) => p.length),
    pids: hosts.map((h) => h.pid),
    fdLimits,
    /** Boots every device of every host; resolves when all daemons started (connecting goes on). */
    async start(timeoutMs) {
      await Promise.all(
        hosts.map((h) => {
          const started = h.next('started', timeoutMs);
          h.send({ type: 'start' });
          return started;
        }),
      );
    },
    /** Every device's report, and the hosts' unhandled rejections (summed; the first one seen). */
    async reports() {
      const all = await Promise.all(hosts.map((h) => h.reports()));
      return {
        reports: all.flatMap((a) => a.reports),
        unhandledRejections: all.reduce((s, a) => s + a.unhandledRejections, 0),
        firstUnhandled: all.find((a) => a.firstUnhandled)?.firstUnhandled ?? '',
      };
    },
    /** process.memoryUsage() of each host (undefined for a host that did not answer). */
    statuses() {
      return Promise.all(hosts.map((h) => h.status().then((s) => s.memory, () => undefined)));
    },
    /** Undefined while every host runs; else why the first dead one ended. */
    died() {
      for (const h of hosts) {
        const d = h.died();
        if (d) return d;
      }
      return undefined;
    },
    /** Stops every host at once; resolves with the slowest clean stop in ms (NaN when one had to be killed). */
    async stop(timeoutMs) {
      const ms = await Promise.all(hosts.map((h) => h.stop(timeoutMs).catch(() => NaN)));
      return Math.max(...ms);
    },
  };
}
