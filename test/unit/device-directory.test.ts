import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeviceDirectory } from '../../hub/jobs/device-directory.js';

const reg = (regId: string) => ({ op: 'register' as const, ep: 'd1', lwm2m: '1.2' as const, lt: 60, objects: ['/5/0'], agent: { name: 'fota-agent', version: '1' }, regId, time: 1 });

/** settles pending promise callbacks without advancing fake time */
const flush = () => new Promise<void>((r) => queueMicrotask(r)).then(() => undefined);

describe('DeviceDirectory waits', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('wakes a waiter on the next event of its device only', async () => {
    const dir = new DeviceDirectory();
    let woke = false;
    void dir.waitForEvent('d1', 60_000, new AbortController().signal).then(() => (woke = true));
    dir.onPresence('d2', { online: true, time: 1 });
    await flush();
    expect(woke).toBe(false);
    dir.onRegistration('d1', reg('r1'));
    await flush();
    expect(woke).toBe(true);
  });

  it('does not lose an event that came while the caller was busy (since)', async () => {
    const dir = new DeviceDirectory();
    const since = dir.get('d1').events;
    // the event arrives while nobody waits (the caller was awaiting an answer)
    dir.onNotification('d1', { token: 't', path: '/5/0', value: { 3: 0 }, seq: 1, time: 1 });
    let woke = false;
    void dir.waitForEvent('d1', 60_000, new AbortController().signal, since).then(() => (woke = true));
    await flush();
    expect(woke).toBe(true);
    // without a newer event it waits for the timeout
    let woke2 = false;
    void dir.waitForEvent('d1', 5000, new AbortController().signal, dir.get('d1').events).then(() => (woke2 = true));
    await flush();
    expect(woke2).toBe(false);
    await vi.advanceTimersByTimeAsync(5000);
    expect(woke2).toBe(true);
  });

  it('rejects with the abort reason and leaves no timer behind', async () => {
    const dir = new DeviceDirectory();
    const ac = new AbortController();
    const p = dir.waitForEvent('d1', 60_000, ac.signal);
    ac.abort(new Error('cancelled'));
    await expect(p).rejects.toThrow('cancelled');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a new registration forgets the observations of the old one', () => {
    const dir = new DeviceDirectory();
    dir.onRegistration('d1', reg('r1'));
    dir.onNotification('d1', { token: 't', path: '/5/0', value: 1, seq: 1, time: 1 });
    expect(dir.get('d1').observed.size).toBe(1);
    dir.onRegistration('d1', reg('r2'));
    expect(dir.get('d1').observed.size).toBe(0);
  });

  it('registrationChange resolves on a new regId only, not on other events', async () => {
    const dir = new DeviceDirectory();
    dir.onRegistration('d1', reg('r1'));
    let changed = false;
    void dir.registrationChange('d1', 'r1', new AbortController().signal).then(() => (changed = true));
    dir.onPresence('d1', { online: false, time: 2 });
    dir.onRegistration('d1', reg('r1'));
    await flush();
    await flush();
    expect(changed).toBe(false);
    dir.onRegistration('d1', reg('r2'));
    await flush();
    await flush();
    expect(changed).toBe(true);
  });
});
