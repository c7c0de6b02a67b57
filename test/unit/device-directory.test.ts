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
    dir.pin('d1'); // a driver follows d1
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
    dir.pin('d1');
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

describe('DeviceDirectory bounds (whatever devices or impostors publish)', () => {
  const regOf = (ep: string) => ({ ...reg(`r-${ep}`), ep });
  let clock = 0;
  const make = (maxDevices: number, logs: string[] = []) => new DeviceDirectory({ maxDevices, now: () => clock, wallNow: () => 1_700_000_000_000, log: (m) => logs.push(m) });

  it('holds at most maxDevices: the least recently heard offline device goes first, a followed one never', () => {
    clock = 0;
    const dir = make(3);
    dir.pin('busy'); // a job's driver follows it
    dir.onPresence('busy', { online: false });
    clock = 1;
    dir.onRegistration('old', regOf('old'));
    dir.onPresence('old', { online: true });
    clock = 2;
    dir.onRegistration('gone', regOf('gone'));
    dir.onPresence('gone', { online: false });
    clock = 3;
    dir.onRegistration('new', regOf('new'));
    expect(dir.size).toBe(3);
    expect(dir.list().map((d) => d.deviceId)).toEqual(['busy', 'new', 'old']);
  });

  it('drops a new device when nothing may be evicted, and says so once', () => {
    const logs: string[] = [];
    const dir = make(2, logs);
    dir.pin('a');
    dir.pin('b');
    for (let i = 0; i < 1000; i++) dir.onRegistration(`ghost${i}`, regOf(`ghost${i}`));
    expect(dir.size).toBe(2);
    expect(logs).toEqual(['device directory full: messages of new devices are dropped']);
  });

  it('30,000 registrations of impostors leave at most maxDevices entries', () => {
    const dir = make(1000);
    const long = 'v'.repeat(60_000);
    for (let i = 0; i < 30_000; i++) dir.onRegistration(`ghost${i}`, { ...regOf(`ghost${i}`), agent: { name: 'x', version: long } });
    expect(dir.size).toBe(1000);
    expect(dir.get('ghost29999').agentVersion).toHaveLength(64);
  });

  it('keeps notifications only of devices a driver follows, and at most 4 observations each', () => {
    const dir = make(10);
    dir.onRegistration('d1', reg('r1'));
    dir.onNotification('d1', { token: 't', path: '/5/0', value: 1, seq: 1, time: 1 });
    expect(dir.get('d1').observed.size).toBe(0);
    dir.pin('d1');
    for (let i = 0; i < 100; i++) dir.onNotification('d1', { token: `t${i}`, path: '/5/0', value: i, seq: i, time: 1 });
    expect([...dir.get('d1').observed.keys()]).toEqual(['t96', 't97', 't98', 't99']);
    dir.onNotification('ghost', { token: 't', path: '/5/0', value: 1, seq: 1, time: 1 });
    expect(dir.size).toBe(1);
  });

  it('sweeps never-registered entries after a minute, registrations past their lifetime unless online, never followed ones; registeredAt is the hub\'s time', () => {
    clock = 0;
    const dir = make(10);
    dir.onPresence('junk', { online: true, time: 1 });
    dir.onRegistration('d1', { ...reg('r1'), lt: 300, time: 42 }); // the device's clock says 1970
    dir.onRegistration('d2', { ...regOf('d2'), lt: 300 });
    dir.onPresence('d2', { online: false });
    dir.onRegistration('d3', { ...regOf('d3'), lt: 300 });
    dir.onPresence('d3', { online: true });
    const unpin = dir.pin('asked');
    clock = 60_001;
    expect(dir.sweep()).toBe(1); // junk
    expect(dir.list().map((d) => d.deviceId)).toEqual(['d1', 'd2', 'd3']);
    expect(dir.list()[0]?.registeredAt).toBe('2023-11-14T22:13:20.000Z');
    clock = 360_001; // lifetime 300 s + 60 s passed without an Update
    expect(dir.sweep()).toBe(2); // d1 (presence unknown) and d2 (offline); d3 says it is online, 'asked' is followed
    expect(dir.list().map((d) => d.deviceId)).toEqual(['d3']);
    unpin();
    expect(dir.sweep()).toBe(1);
  });
});
