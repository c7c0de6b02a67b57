// The figures docs/hardware-in-the-loop.md records for each hil test: wall time, the QEMU CPU seconds it cost (the
// guest's work, nearly independent of host load) and the host's 1-min load average sampled during it (wall time on
// a shared 2-core machine means little without it). Printed to stderr and appended to the board's console log.
import { appendFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import type { QemuBoard } from './qemu-board.js';

export function scenarioClock(board: () => QemuBoard | undefined): void {
  let t0 = 0;
  let cpu0 = 0;
  let stalls0 = 0;
  let loads: number[] = [];
  let sampler: NodeJS.Timeout | undefined;
  let fileT0 = 0;
  // registered before the file's own hooks: starts before its first boot, ends after its board is stopped
  beforeAll(() => {
    fileT0 = Date.now();
  });
  afterAll(() => {
    process.stderr.write(`[hil] whole file: ${((Date.now() - fileT0) / 1000).toFixed(0)} s wall, QEMU ${(board()?.cpuSeconds() ?? 0).toFixed(0)} CPU s, load now ${loadavg()[0]!.toFixed(1)}\n`);
  });
  beforeEach(() => {
    t0 = Date.now();
    cpu0 = board()?.cpuSeconds() ?? 0;
    stalls0 = board()?.firmwareStalls ?? 0;
    loads = [loadavg()[0]!];
    sampler = setInterval(() => loads.push(loadavg()[0]!), 5000);
    sampler.unref();
  });
  afterEach((ctx) => {
    clearInterval(sampler);
    loads.push(loadavg()[0]!);
    const b = board();
    const mean = loads.reduce((a, x) => a + x, 0) / loads.length;
    const line = `[hil] ${ctx.task.name.slice(0, 60)}: ${ctx.task.result?.state ?? '?'}, ${((Date.now() - t0) / 1000).toFixed(0)} s wall, ` +
      `QEMU ${((b?.cpuSeconds() ?? 0) - cpu0).toFixed(0)} CPU s, load ${mean.toFixed(1)} (${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)})` +
      ((b?.firmwareStalls ?? 0) > stalls0 ? `, U-Boot stalls power-cycled by the harness: ${(b?.firmwareStalls ?? 0) - stalls0}` : '');
    process.stderr.write(`${line}\n`);
    if (b) appendFileSync(b.consoleLog, `\n${line}\n`);
  });
}
