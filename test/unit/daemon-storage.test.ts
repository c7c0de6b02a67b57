// A state folder that fills up or turns read-only (issue 10 #4, #5): the daemon saves before memory takes a state,
// refuses a request it cannot save (5.00 with the reason), ends an attempt whose outcome it cannot save with an Update
// Result and a reason, keeps running when nothing can be saved, and says so in Object 3 (Error Code 16 + reason).
import { describe, expect, it } from 'vitest';
import { FotaError } from '../../agent/core/errors.js';
import { FakePlatform, MemoryStore, fsError, until } from '../helpers/fakes.js';
import { rig } from '../helpers/daemon-rig.js';

const PKG = { name: 'acme', version: '3.0.0', payloadSize: 10, sha256: '00' };
const saved = (store: MemoryStore) => (store.value as { firmware: { phase: string; step: string | null; result: number } }).firmware;

async function downloaded() {
  const r = rig();
  await r.daemon.start();
  r.transport.connect();
  expect((await r.call('write', '/5/0/1', { value: 'https://pkg/a.fota' })).code).toBe('2.04');
  await until(() => r.daemon.firmware.phase === 'downloaded');
  return r;
}

describe('daemon: a state folder that cannot be saved', () => {
  it('Update on a full disk is refused 5.00 with the reason; the device stays Downloaded, nothing is armed, Cancel works', async () => {
    const r = await downloaded();
    r.store.fail = fsError('ENOSPC');
    r.store.reserve = true;
    const res = await r.call('execute', '/5/0/2');
    expect(res.code).toBe('5.00');
    expect(res.reason).toMatch(/could not save its state in \/var\/lib\/fota-agent\/state\.json \(no space left.*nothing changed/);
    expect(r.daemon.firmware.phase).toBe('downloaded');
    expect(saved(r.store).phase).toBe('downloaded');
    expect(r.platform.calls).not.toContain('activate');
    // Object 3 says why, for as long as saves fail
    expect((await r.call('read', '/3/0/11')).value).toEqual([16]);
    expect(String((await r.call('read', '/3/0/26241')).value)).toContain('no space left');
    // giving up is a move to safety: it uses the reserve
    expect((await r.call('execute', '/5/0/10')).code).toBe('2.04');
    expect(r.daemon.firmware).toMatchObject({ phase: 'idle', result: 10 });
    expect(saved(r.store)).toMatchObject({ phase: 'idle', result: 10 });
    // space again: the next update works and the fault clears
    r.store.fail = undefined;
    expect((await r.call('write', '/5/0/1', { value: 'https://pkg/a.fota' })).code).toBe('2.04');
    await until(() => r.daemon.firmware.phase === 'downloaded');
    expect((await r.call('execute', '/5/0/2')).code).toBe('2.04');
    await until(() => r.platform.calls.includes('activate'));
    expect((await r.call('read', '/3/0/11')).value).toEqual([0]);
    await r.daemon.stop();
  });

  it('a download whose outcome cannot be saved ends with Update Result 2 and the reason, recorded with the reserve', async () => {
    const r = rig();
    let finish = () => {};
    r.downloader.plan = () => new Promise((resolve) => (finish = () => resolve(PKG)));
    await r.daemon.start();
    r.transport.connect();
    await r.call('write', '/5/0/1', { value: 'https://pkg/a.fota' });
    await until(() => r.downloader.requests.length === 1);
    r.store.fail = fsError('ENOSPC');
    r.store.reserve = true;
    finish();
    await until(() => r.daemon.firmware.phase === 'idle');
    expect(r.daemon.firmware).toMatchObject({ result: 2, errorCode: 'no-space' });
    expect(r.daemon.firmware.reason).toContain('could not save its state');
    // the file agrees: a restart does not resume the download the hub was told failed
    expect(saved(r.store)).toMatchObject({ phase: 'idle', result: 2 });
    await r.daemon.stop();
  });

  it('an activation whose save fails disarms the slot and ends with the reason (never a reboot into an unrecorded trial)', async () => {
    const r = await downloaded();
    r.platform.activateInactiveSlot = async function (this: FakePlatform) {
      this.calls.push('activate');
      this.env = { ...this.env, bootPart: 'B', upgrade: true, bootcount: 0 };
      r.store.fail = fsError('EROFS');
    };
    expect((await r.call('execute', '/5/0/2')).code).toBe('2.04');
    await until(() => r.daemon.firmware.phase === 'idle');
    expect(r.daemon.firmware).toMatchObject({ result: 8, errorCode: 'io-error' });
    expect(r.daemon.firmware.reason).toMatch(/read-only file system.*the new slot was disarmed/);
    await until(() => r.platform.calls.includes('revert'));
    expect(await r.platform.bootStatus()).toMatchObject({ trial: false, pending: null });
    expect(r.platform.reboots).toBe(0);
    // read-only: nothing could be saved, the file keeps the last state saved, Object 3 says so
    expect(saved(r.store).step).toBe('activating');
    expect((await r.call('read', '/3/0/11')).value).toEqual([16]);
    await r.daemon.stop();
  });

  it('a read-only state folder at start: the agent runs and reports the fault; requests are refused with the reason; it clears once the folder works', async () => {
    const store = new MemoryStore();
    store.fail = fsError('EROFS', '/var/lib/fota-agent/state.json.tmp');
    const r = rig({ platform: new FakePlatform(), store }, { lifetimeSec: 0.02 });
    await r.daemon.start();
    r.transport.connect();
    expect((await r.call('read', '/3/0/11')).value).toEqual([16]);
    expect(String((await r.call('read', '/3/0/26241')).value)).toContain('read-only file system');
    const res = await r.call('write', '/5/0/1', { value: 'https://pkg/a.fota' });
    expect(res).toMatchObject({ code: '5.00', reason: expect.stringContaining('read-only file system') });
    expect(r.daemon.firmware.phase).toBe('idle');
    expect((await r.call('write', '/3/0/15', { value: 'Europe/Berlin' })).code).toBe('5.00');
    expect((await r.call('read', '/3/0/15')).value).not.toBe('Europe/Berlin');
    // the folder works again: the periodic retry saves and clears the fault
    store.fail = undefined;
    await until(() => r.transport.registrations.length > 1 && store.saved.length > 0, 'a retried save');
    expect((await r.call('read', '/3/0/11')).value).toEqual([0]);
    expect((await r.call('write', '/5/0/1', { value: 'https://pkg/a.fota' })).code).toBe('2.04');
    await r.daemon.stop();
  });

  it('a settings write that cannot be saved answers 5.00 and changes nothing', async () => {
    const r = rig();
    await r.daemon.start();
    r.transport.connect();
    r.store.fail = fsError('ENOSPC');
    const res = await r.call('write', '/3/0/15', { value: 'Europe/Berlin' });
    expect(res).toMatchObject({ code: '5.00', reason: expect.stringContaining('nothing changed') });
    expect((await r.call('read', '/3/0/15')).value).not.toBe('Europe/Berlin');
    await r.daemon.stop();
  });
});

void FotaError;
