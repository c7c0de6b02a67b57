// The daemon loop with small fakes behind its ports: request routing, save-before-act, restarts across reboots.
import { describe, expect, it } from 'vitest';
import { FotaError } from '../../agent/core/errors.js';
import { FakePlatform, MemoryStore, until } from '../helpers/fakes.js';
import { rig } from '../helpers/daemon-rig.js';

/**
 * A download the test drives by hand: `step(percent)` reports progress; it never ends by itself (an abort rejects it).
 * Resolves once the daemon shows 10 %.
 */
async function downloadingAt10(r: ReturnType<typeof rig>): Promise<{ r: ReturnType<typeof rig>; step: (percent: number) => void }> {
  let step = (_percent: number) => {};
  r.downloader.plan = (hooks) =>
    new Promise((_, reject) => {
      step = (percent) => hooks.progress(percent, 100);
      hooks.signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })));
    });
  await r.daemon.start();
  r.transport.connect();
  await r.call('write', '/5/0/1', { value: 'https://pkg/a.tar' });
  await until(() => r.downloader.requests.length === 1);
  step(10);
  await until(() => r.daemon.firmware.progress === 10);
  return { r, step: (percent) => step(percent) };
}

describe('daemon: requests', () => {
  it('routes reads, writes and executes with LwM2M answers', async () => {
    const r = rig();
    await r.daemon.start();
    r.transport.connect();
    expect(await r.call('read', '/3/0/3')).toMatchObject({ code: '2.05', value: '1.0.0' });
    expect(await r.call('read', '/5/0/3')).toMatchObject({ code: '2.05', value: 0 });
    expect(await r.call('read', '/5/0')).toMatchObject({ code: '2.05', value: expect.objectContaining({ '3': 0, '5': 0, '9': 0 }) });
    expect((await r.call('read', '/9/0')).code).toBe('4.04');
    expect((await r.call('read', '/5/1/3')).code).toBe('4.04');
    expect((await r.call('read', '/5/0/99')).code).toBe('4.04');
    expect((await r.call('write', '/5/0/3', { value: 1 })).code).toBe('4.05');
    expect((await r.call('read', '/5/0/2')).code).toBe('4.05');
    expect((await r.call('execute', '/5/0/2')).code).toBe('4.05');
    expect((await r.call('write', '/5/0/1', { value: 42 })).code).toBe('4.00');
    expect((await r.call('write', '/3/0/15', { value: 'Mars/Olympus' })).code).toBe('4.00');
    expect((await r.call('write', '/3/0/15', { value: 'Europe/Berlin' })).code).toBe('2.04');
    expect(await r.call('read', '/3/0/15')).toMatchObject({ value: 'Europe/Berlin' });
    expect((await r.call('execute', '/3/0/5')).code).toBe('4.05');
    await r.daemon.stop();
  });

  it('registers on connect with the served objects', async () => {
    const r = rig();
    await r.daemon.start();
    r.transport.connect();
    expect(r.transport.registrations[0]).toMatchObject({ op: 'register', ep: 'dev1', objects: ['/3/0', '/5/0'], agent: { version: '0.1.0' } });
    await r.daemon.stop();
  });

  it('notifies observers of State and Update Result changes without polling', async () => {
    const r = rig();
    await r.daemon.start();
    r.transport.connect();
    expect((await r.call('observe', '/5/0/3')).code).toBe('2.05');
    await r.call('write', '/5/0/1', { value: 'https://pkg/a.tar' });
    await until(() => r.daemon.firmware.phase === 'downloaded');
    const states = r.transport.notifications.map((n) => n.value);
    expect(states).toEqual([1, 2]);
    await r.daemon.stop();
  });

  it('writes that change nothing save nothing (a flood of them was a flood of fsyncs)', async () => {
    const r = rig();
    await r.daemon.start();
    r.transport.connect();
    const saves = r.store.saved.length;
    // an empty Package URI in Idle that is already reset, and the same time zone twice
    for (let i = 0; i < 5; i++) expect((await r.call('write', '/5/0/1', { value: '' })).code).toBe('2.04');
    expect(r.store.saved.length).toBe(saves);
    for (let i = 0; i < 5; i++) expect((await r.call('write', '/3/0/15', { value: 'Europe/Berlin' })).code).toBe('2.04');
    expect(r.store.saved.length).toBe(saves + 1);
    // nor do they, or refused ones, record their request ids: only the one write that acted did
    expect((await r.call('write', '/3/0/15', { value: 'Mars/Olympus' })).code).toBe('4.00');
    expect((await r.call('execute', '/5/0/2')).code).toBe('4.05');
    expect(r.requests.saved).toHaveLength(1);
    await r.daemon.stop();
  });
});

describe('daemon: the update loop', () => {
  it('downloads, activates after saving, reboots; the next boot verifies, commits and reports Idle + 1', async () => {
    const shared = { platform: new FakePlatform(), store: new MemoryStore() };
    const r = rig(shared);
    // save-before-act: when the bootloader is told to try B, the saved state already says so
    const activate = shared.platform.activateInactiveSlot.bind(shared.platform);
    let savedWhenActivating: unknown;
    shared.platform.activateInactiveSlot = async () => {
      savedWhenActivating = (shared.store.value as { firmware: { step: string } }).firmware.step;
      return activate();
    };
    await r.daemon.start();
    r.transport.connect();
    expect((await r.call('write', '/5/0/1', { value: 'https://pkg/a.tar' })).code).toBe('2.04');
    await until(() => r.daemon.firmware.phase === 'downloaded');
    expect(r.daemon.firmware.pkgVersion).toBe('3.0.0');
    expect((await r.call('execute', '/5/0/2')).code).toBe('2.04');
    await until(() => shared.platform.reboots === 1, 'reboot');
    expect(savedWhenActivating).toBe('activating');
    expect(r.daemon.firmware.step).toBe('rebooting');
    await r.daemon.stop();

    shared.platform.bootNext();
    shared.platform.versions.B = '3.0.0';
    const r2 = rig(shared);
    await r2.daemon.start();
    r2.transport.connect();
    await until(() => r2.daemon.firmware.phase === 'idle', 'idle after commit');
    expect(r2.daemon.firmware.result).toBe(1);
    expect(shared.platform.env).toMatchObject({ bootPart: 'B', upgrade: false });
    expect(await r2.call('read', '/3/0/3')).toMatchObject({ value: '3.0.0' });
    const transitions = r2.logger.lines.filter((l) => l.msg === 'transition').map((l) => `${l.from}>${l.to}`);
    expect(transitions).toEqual(['updating:rebooting>updating:verifying', 'updating:verifying>updating:committing', 'updating:committing>idle']);
    await r2.daemon.stop();
  });

  it('a trial that never reaches the broker is reverted; the old slot reports Idle + 8 with the reason', async () => {
    const shared = { platform: new FakePlatform(), store: new MemoryStore() };
    const r = rig(shared);
    await r.daemon.start();
    r.transport.connect();
    await r.call('write', '/5/0/1', { value: 'https://pkg/a.tar' });
    await until(() => r.daemon.firmware.phase === 'downloaded');
    await r.call('execute', '/5/0/2');
    await until(() => shared.platform.reboots === 1);
    await r.daemon.stop();

    shared.platform.bootNext();
    const r2 = rig(shared); // never connects: the health check times out (50 ms)
    await r2.daemon.start();
    await until(() => shared.platform.reboots === 2, 'reboot after failed health check');
    expect(shared.platform.calls).toContain('revert');
    expect(shared.platform.calls).not.toContain('commit');
    await r2.daemon.stop();

    shared.platform.bootNext(); // bootcount was set to bootlimit: the bootloader falls back to A
    expect(shared.platform.booted).toBe('A');
    const r3 = rig(shared);
    await r3.daemon.start();
    r3.transport.connect();
    await until(() => r3.daemon.firmware.phase === 'idle');
    expect(r3.daemon.firmware.result).toBe(8);
    expect(r3.daemon.firmware.reason).toMatch(/health check failed: the agent did not reach the broker/);
    expect(await r3.call('read', '/5/0/26243')).toMatchObject({ value: 'health-check-failed' });
    await r3.daemon.stop();
  });

  it('a download error becomes Idle + its Update Result and reason', async () => {
    const r = rig();
    r.downloader.plan = async () => {
      throw new FotaError('unsupported-scheme', 'ftp is not an allowed scheme (allowed: https, http)');
    };
    await r.daemon.start();
    r.transport.connect();
    await r.call('write', '/5/0/1', { value: 'ftp://x/p' });
    await until(() => r.daemon.firmware.phase === 'idle' && r.daemon.firmware.result !== 0);
    expect(r.daemon.firmware.result).toBe(9);
    expect((await r.call('read', '/5/0/26242')).value).toContain('ftp');
    await r.daemon.stop();
  });

  it('a wall clock set back 1 h does not hold progress reports back: the throttle is monotonic (issue 10 #7)', async () => {
    const { r, step } = await downloadingAt10(rig(undefined, { progressIntervalMs: 1000 }));
    for (const percent of [20, 30, 40]) {
      r.clock.t -= 3_600_000; // NTP or a person sets the clock back an hour
      r.clock.m += 1_500; // while 1.5 s really pass
      step(percent);
      await until(() => r.daemon.firmware.progress === percent, `progress ${percent} %`);
    }
    // and within one interval of real time the throttle still holds, whatever the wall clock does
    r.clock.t += 7_200_000;
    step(50);
    await new Promise((res) => setTimeout(res, 20));
    expect(r.daemon.firmware.progress).toBe(40);
    await r.daemon.stop();
  });

  it('a percent the throttle held back is reported when the interval ends, though no byte follows (a stall shows how far it got)', async () => {
    const { r, step } = await downloadingAt10(rig(undefined, { progressIntervalMs: 100 }));
    // two more within the interval, then the server stalls: no further progress call
    step(30);
    step(45);
    expect(r.daemon.firmware.progress, 'held back within the interval').toBe(10);
    await until(() => r.daemon.firmware.progress === 45, 'the held-back 45 % once the interval ended');
    await r.daemon.stop();
  });

  it('Cancel aborts the running download and reports 10', async () => {
    const r = rig();
    let aborted = false;
    r.downloader.plan = (hooks) =>
      new Promise((_, reject) => {
        hooks.progress(10, 100);
        hooks.signal.addEventListener('abort', () => {
          aborted = true;
          reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
        });
      });
    await r.daemon.start();
    r.transport.connect();
    await r.call('write', '/5/0/1', { value: 'https://pkg/a.tar' });
    await until(() => r.daemon.firmware.progress === 10);
    expect((await r.call('execute', '/5/0/10')).code).toBe('2.04');
    await until(() => aborted, 'abort');
    expect(r.daemon.firmware).toMatchObject({ phase: 'idle', result: 10 });
    await r.daemon.stop();
  });

  it('a restart mid-download resumes with the last checkpoint', async () => {
    const shared = { platform: new FakePlatform(), store: new MemoryStore() };
    const r = rig(shared);
    r.downloader.plan = (hooks) =>
      new Promise((_, reject) => {
        hooks.checkpoint({ written: 4096 });
        hooks.signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })));
      });
    await r.daemon.start();
    r.transport.connect();
    await r.call('write', '/5/0/1', { value: 'https://pkg/a.tar' });
    await until(() => r.daemon.firmware.resume !== null);
    await r.daemon.stop(); // SIGTERM mid-download
    const r2 = rig(shared);
    await r2.daemon.start();
    await until(() => r2.downloader.requests.length === 1);
    expect(r2.downloader.requests[0]).toEqual({ uri: 'https://pkg/a.tar', resume: { written: 4096 }, policy: { installed: '1.0.0', floor: '', allowDowngrade: false } });
    await until(() => r2.daemon.firmware.phase === 'downloaded');
    await r2.daemon.stop();
  });
});

describe('daemon: anti-rollback over the wire', () => {
  it('a Package URI written with Downgrade Allowed in one instance write reaches the downloader; alone it is refused', async () => {
    const r = rig();
    await r.daemon.start();
    r.transport.connect();
    expect(await r.call('write', '/5/0/26245', { value: true })).toMatchObject({ code: '4.00', reason: expect.stringContaining('{"1": "<uri>", "26245": true}') });
    expect((await r.call('write', '/5/0', { value: { '26245': true } })).code).toBe('4.00');
    expect((await r.call('write', '/5/0', { value: { '1': 'https://pkg/a.tar', '26245': 'yes' } })).code).toBe('4.00');
    expect((await r.call('write', '/5/0', { value: { '1': 'https://pkg/a.tar', '26245': true } })).code).toBe('2.04');
    await until(() => r.downloader.requests.length === 1);
    expect(r.downloader.requests[0]).toMatchObject({ policy: { installed: '1.0.0', floor: '', allowDowngrade: true } });
    expect(await r.call('read', '/5/0/26245')).toMatchObject({ value: true });
    await until(() => r.daemon.firmware.phase === 'downloaded');
    await r.call('write', '/5/0/1', { value: '' });
    // a plain Package URI write: no downgrade
    expect((await r.call('write', '/5/0/1', { value: 'https://pkg/b.tar' })).code).toBe('2.04');
    await until(() => r.downloader.requests.length === 2);
    expect(r.downloader.requests[1]).toMatchObject({ policy: { allowDowngrade: false } });
    await r.daemon.stop();
  });

  it('the configured floor is saved at start, shown as /5/0/26246, and kept when the configuration no longer says it', async () => {
    const shared = { platform: new FakePlatform(), store: new MemoryStore() };
    const r = rig(shared, { securityFloor: '2.0.0' });
    await r.daemon.start();
    r.transport.connect();
    expect(await r.call('read', '/5/0/26246')).toMatchObject({ code: '2.05', value: '2.0.0' });
    await r.daemon.stop();
    const again = rig(shared); // e.g. a factory reset forgot the remote configuration
    await again.daemon.start();
    again.transport.connect();
    expect(await again.call('read', '/5/0/26246')).toMatchObject({ value: '2.0.0' });
    await again.call('write', '/5/0/1', { value: 'https://pkg/c.tar' });
    await until(() => again.downloader.requests.length === 1);
    expect(again.downloader.requests[0]).toMatchObject({ policy: { floor: '2.0.0' } });
    await again.daemon.stop();
  });
});
