// Entry of the fleet host process (forked by bench/fleet-bench.mjs with an IPC channel, bundled by esbuild):
// start N agents (their folders exist: createFleetDevices), answer status requests, stop on request (or on SIGTERM/SIGINT,
// or when the parent goes away). Agent logs go to stdout (the bench points it at a file).

import { disableForcedGc } from '../../agent/adapters/memory.js';
import { FleetHost, type DeviceReport, type FleetHostOptions } from './agents.js';

// thousands of agents share this heap: one download's forced full GC would stall them all (memory.ts)
disableForcedGc();

/** Messages from the bench to this process. */
export type HostCommand = { type: 'init'; options: FleetHostOptions } | { type: 'start' } | { type: 'status' } | { type: 'report' } | { type: 'stop' };

/** Messages from this process to the bench. */
export type HostEvent =
  | { type: 'hello'; pid: number }
  | { type: 'ready' }
  | { type: 'started'; ms: number }
  | { type: 'status'; connected: number; memory: NodeJS.MemoryUsage }
  | { type: 'report'; reports: DeviceReport[]; unhandledRejections: number; firstUnhandled: string }
  | { type: 'stopped'; ms: number }
  | { type: 'error'; message: string };

let host: FleetHost | undefined;
let stopping: Promise<void> | undefined;
let unhandledRejections = 0;
let firstUnhandled = '';

const send = (e: HostEvent, then?: () => void): void => void process.send?.(e, undefined, {}, () => then?.());

function stop(): Promise<void> {
  stopping ??= (async () => {
    const t = performance.now();
    await host?.stop();
    // a lingering socket must not keep the host alive once every agent stopped
    setTimeout(() => process.exit(0), 2000).unref();
    send({ type: 'stopped', ms: performance.now() - t }, () => process.disconnect?.());
  })();
  return stopping;
}

async function handle(cmd: HostCommand): Promise<void> {
  try {
    switch (cmd.type) {
      case 'init':
        host = new FleetHost(cmd.options);
        return send({ type: 'ready' });
      case 'start': {
        if (!host) throw new Error('start before init');
        const t = performance.now();
        await host.start();
        return send({ type: 'started', ms: performance.now() - t });
      }
      case 'status':
        return send({ type: 'status', connected: host?.connectedCount() ?? 0, memory: process.memoryUsage() });
      case 'report':
        return send({ type: 'report', reports: host?.reports() ?? [], unhandledRejections, firstUnhandled });
      case 'stop':
        return await stop();
    }
  } catch (e) {
    send({ type: 'error', message: (e as Error).stack ?? String(e) });
  }
}

process.on('message', (m) => void handle(m as HostCommand));
// A real agent process dies on an unhandled rejection (and systemd restarts it); here it would take every device
// down with it. Count it, log it, report it (it is an agent bug either way), and keep the other devices running.
process.on('unhandledRejection', (e) => {
  unhandledRejections++;
  const text = (e as Error)?.stack ?? String(e);
  if (!firstUnhandled) firstUnhandled = text.slice(0, 1500);
  console.error(JSON.stringify({ time: new Date().toISOString(), level: 'error', component: 'fleet-host', msg: 'unhandled rejection (a real agent process would crash here)', error: text }));
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void stop().then(() => process.exit(0)));
// the bench died (Ctrl-C on it, a crash): power the fleet off instead of lingering
process.once('disconnect', () => void stop());
send({ type: 'hello', pid: process.pid });
