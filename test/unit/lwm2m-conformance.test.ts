// LwM2M conformance details a LwM2M-savvy user checks: Object 5 resource 8 lists only the allowed schemes; writing
// NULL or empty to Package (/5/0/0) resets the state machine like an empty Package URI; Current Time is not writable.
import { describe, expect, it } from 'vitest';
import { firmwareObject } from '../../agent/core/objects/firmware-object.js';
import { initialFirmwareState } from '../../agent/core/firmware-machine.js';
import { rig as daemonRig } from '../helpers/daemon-rig.js';
import { FakeClock, until } from '../helpers/fakes.js';

const rig = () => daemonRig(undefined, { allowedUriSchemes: ['https'] });

const object = (allowedSchemes: string[]) => firmwareObject({ state: initialFirmwareState, now: () => 0, newAttemptId: () => 'a', allowedSchemes });

describe('Object 5 resource 8 (Firmware Update Protocol Support)', () => {
  it('lists only the schemes the configuration allows', () => {
    expect(object(['https']).read()[8]).toEqual([3]);
    expect(object(['http']).read()[8]).toEqual([2]);
    expect(object(['https', 'http']).read()[8]).toEqual([2, 3]);
  });
});

describe('Object 5 resource 0 (Package): NULL resets the state machine', () => {
  for (const value of [null, '', '\u0000']) {
    it(`writing ${JSON.stringify(value)} in Downloaded discards the image: Idle, Update Result 0`, async () => {
      const r = rig();
      await r.daemon.start();
      r.transport.connect();
      expect((await r.call('read', '/5/0/8')).value).toEqual([3]);
      await r.call('write', '/5/0/1', { value: 'https://pkg/a.tar' });
      await until(() => r.daemon.firmware.phase === 'downloaded');
      expect((await r.call('write', '/5/0/0', { value })).code).toBe('2.04');
      expect(r.daemon.firmware).toMatchObject({ phase: 'idle', result: 0, uri: '' });
      await r.daemon.stop();
    });
  }

  it('an empty Package URI does the same; a package pushed to resource 0 is refused (pull only)', async () => {
    const r = rig();
    await r.daemon.start();
    r.transport.connect();
    await r.call('write', '/5/0/1', { value: 'https://pkg/a.tar' });
    await until(() => r.daemon.firmware.phase === 'downloaded');
    expect((await r.call('write', '/5/0/0', { value: 'AAECAw==' })).code).toBe('4.05');
    expect(r.daemon.firmware.phase).toBe('downloaded');
    expect((await r.call('write', '/5/0/1', { value: '' })).code).toBe('2.04');
    expect(r.daemon.firmware).toMatchObject({ phase: 'idle', result: 0 });
    await r.daemon.stop();
  });
});

describe('Object 3 resource 13 (Current Time)', () => {
  it('is read as Unix seconds; a write is refused with the reason (docs/protocol.md)', async () => {
    const r = rig();
    await r.daemon.start();
    r.transport.connect();
    expect((await r.call('read', '/3/0/13')).value).toBe(Math.floor(new FakeClock().now() / 1000));
    expect(await r.call('write', '/3/0/13', { value: 1 })).toMatchObject({ code: '4.05', reason: expect.stringContaining('NTP') });
    await r.daemon.stop();
  });
});
