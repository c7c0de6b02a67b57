// The watchdog's schedule and the service's messages, with fake timers and a recording notifier (pure logic; the
// real systemd-notify and socket are in test/integration/systemd-notify.test.ts).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LoopWatchdog, watchdogTiming } from '../../agent/adapters/loop-watchdog.js';
import { systemdService } from '../../agent/adapters/systemd-service.js';
import type { SystemdNotifier } from '../../agent/adapters/systemd-notify.js';
import { memoryLogger } from '../helpers/fakes.js';

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

function recorder(watchdogMs?: number): SystemdNotifier & { sent: Record<string, string>[]; hold?: boolean } {
  const sent: Record<string, string>[] = [];
  return { enabled: true, watchdogMs, sent, notify: async (f) => (sent.push({ ...f }), true) };
}

describe('LoopWatchdog', () => {
  it('pings at start and every interval', async () => {
    let pings = 0;
    const wd = new LoopWatchdog({ intervalMs: 100, maxLagMs: 100, ping: async () => pings++, now: () => Date.now() });
    wd.start();
    await vi.advanceTimersByTimeAsync(350);
    expect(pings).toBe(4);
    wd.stop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(pings).toBe(4);
  });

  it('skips the ping of a tick that ran late, and reports how late', async () => {
    let pings = 0;
    let skew = 0;
    const lags: number[] = [];
    const wd = new LoopWatchdog({ intervalMs: 100, maxLagMs: 100, ping: async () => pings++, lagging: (l) => lags.push(l), now: () => Date.now() + skew });
    wd.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(pings).toBe(2);
    skew = 250; // the next tick runs 250 ms after it was due (a blocked loop, as seen by the tick)
    await vi.advanceTimersByTimeAsync(100);
    expect([pings, lags]).toEqual([2, [250]]);
    await vi.advanceTimersByTimeAsync(100);
    expect(pings).toBe(3);
    wd.stop();
  });

  it('never has two pings in flight (a service manager that does not answer)', async () => {
    let started = 0;
    const wd = new LoopWatchdog({ intervalMs: 100, maxLagMs: 100, ping: () => (started++, new Promise(() => undefined)), now: () => Date.now() });
    wd.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(started).toBe(1);
    wd.stop();
  });

  it('pings every quarter of WatchdogSec and tolerates a quarter of lag', () => {
    expect(watchdogTiming(30_000)).toEqual({ intervalMs: 7500, maxLagMs: 7500 });
  });
});

describe('systemdService', () => {
  it('turns each state transition into the unit status line', async () => {
    const n = recorder();
    const logger = memoryLogger();
    const sd = systemdService({}, { logger, pid: 1, notifier: n });
    sd.logger.transition({ jobId: 'a1', from: 'idle', to: 'downloading', event: 'download-requested', updateResult: 0 });
    sd.logger.info('plain line');
    await sd.ready('running: idle');
    await sd.stopping();
    expect(n.sent).toEqual([{ STATUS: 'downloading (download-requested, attempt a1)' }, { READY: '1', STATUS: 'running: idle' }, { STOPPING: '1', STATUS: 'stopping' }]);
    expect(logger.lines.map((l) => l.msg)).toEqual(['transition', 'plain line']);
  });

  it('feeds the watchdog only when systemd asked for one, and stops feeding it when stopping', async () => {
    const n = recorder(400);
    const sd = systemdService({}, { logger: memoryLogger(), pid: 1, notifier: n });
    await vi.advanceTimersByTimeAsync(250);
    expect(n.sent.filter((f) => f.WATCHDOG).length).toBe(3);
    await sd.stopping();
    await vi.advanceTimersByTimeAsync(1000);
    expect(n.sent.filter((f) => f.WATCHDOG).length).toBe(3);
    const none = recorder(undefined);
    systemdService({}, { logger: memoryLogger(), pid: 1, notifier: none });
    await vi.advanceTimersByTimeAsync(1000);
    expect(none.sent).toEqual([]);
  });
});
