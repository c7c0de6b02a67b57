// StoreGate: a locked job database is probed once per back-off period (not once per waiting driver), every waiter
// goes on after the first successful probe, and a waiter whose signal aborts leaves at once.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JobStoreError } from '../../hub/jobs/job-model.js';
import { StoreGate } from '../../hub/jobs/store-gate.js';

const busy = () => new JobStoreError('busy', 'locked');
let locked: boolean;
let probes: number;
let logs: string[];
let gate: StoreGate;

beforeEach(() => {
  vi.useFakeTimers();
  locked = true;
  probes = 0;
  logs = [];
  gate = new StoreGate({
    probe: () => {
      probes++;
      if (locked) throw busy();
    },
    log: (m) => logs.push(m),
    initialMs: 100,
    maxMs: 1000,
    random: () => 1,
  });
});

afterEach(() => {
  gate.close();
  vi.useRealTimers();
});

describe('StoreGate', () => {
  it('runs at once while the database is writable', async () => {
    expect(await gate.run(() => 42)).toBe(42);
    expect(gate.closed).toBe(false);
  });

  it('probes once per back-off period whatever the number of waiters, doubling up to the cap, then releases them all', async () => {
    let calls = 0;
    const runs = Array.from({ length: 50 }, () =>
      gate.run(() => {
        calls++;
        if (locked) throw busy();
        return 'ok';
      }),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(gate.closed).toBe(true);
    expect(calls).toBe(1); // the first caller met the lock; the other 49 wait without touching the database
    await vi.advanceTimersByTimeAsync(100 + 200 + 400 + 800 + 1000 + 1000);
    expect(probes).toBe(6);
    locked = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(await Promise.all(runs)).toEqual(Array(50).fill('ok'));
    expect(gate.closed).toBe(false);
    expect(logs).toEqual(['job database locked by another process: writes wait and are retried', 'job database writable again']);
  });

  it('lets a waiter go when its signal aborts, and passes other errors through', async () => {
    gate.trip();
    const ac = new AbortController();
    const waiting = gate.wait(ac.signal);
    ac.abort('stopping');
    await expect(waiting).rejects.toBe('stopping');
    locked = false;
    await vi.advanceTimersByTimeAsync(100);
    await expect(gate.run(() => { throw new Error('disk I/O error'); })).rejects.toThrow('disk I/O error');
  });
});
