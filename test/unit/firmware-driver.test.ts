// The firmware-update driver against a scripted device (pure logic: the real agents are in test/system/): which
// attempt is the job's is told by attempt ids, never by comparing the device's clock with the hub's, and a success
// is recorded only when the device's own state, read back, confirms it.
import { describe, expect, it } from 'vitest';
import type { DeviceView } from '../../hub/jobs/device-directory.js';
import type { DriverContext, RequestBody } from '../../hub/jobs/driver.js';
import { firmwareUpdateDriver } from '../../hub/jobs/drivers/firmware-update.js';
import type { JobLogEntry, JobPatch, JobRecord } from '../../hub/jobs/job-model.js';
import type { JsonValue, Response } from '../../protocol/messages.js';

const URI = 'http://packages.example/fw-2.0.0.fota';

/** Object 5 as the scripted device holds it. */
interface Fw {
  state: number;
  result: number;
  uri: string;
  attempt: string;
  pkgVersion: string;
  /** Last State Change Time, device clock, s */
  changed: number;
}

interface Script {
  /** what Object 5 becomes when a Package URI is written (the attempt id is made by the device) */
  onWrite(fw: Fw, attempt: string): Fw;
  /** what a read answers (default: the current Object 5) */
  read?(fw: Fw): Fw;
  version(): string;
  /** regIds of the device over time: each read of device() after Update may see a new one */
  regIdAfterUpdate?: string;
}

function object5(fw: Fw): Record<string, JsonValue> {
  return { '1': fw.uri, '3': fw.state, '5': fw.result, '7': fw.pkgVersion, '12': fw.changed, '26241': 0, '26242': fw.result > 1 ? 'the server answered 404' : '', '26243': fw.result > 1 ? 'not-found' : '', '26244': fw.attempt };
}

/** Runs the driver to its end (or until `maxWakes` loop turns: a driver that would loop for ever). */
async function drive(script: Script, hubNow: number, maxWakes = 30) {
  let fw: Fw = { state: 0, result: 1, uri: 'http://old/fw-1.0.0.fota', attempt: 'a0', pkgVersion: '1.0.0', changed: Math.floor((hubNow - 3_600_000) / 1000) };
  const log: JobLogEntry[] = [];
  const writes: string[] = [];
  const patches: JobPatch[] = [];
  let attempts = 0;
  let wakes = 0;
  const signal = new AbortController();
  const device: DeviceView = { deviceId: 'd1', online: true, regId: 'r1', agentVersion: '1', registeredAt: null, events: 0, observed: new Map() };
  const answer = (body: RequestBody): Response => {
    if (body.op === 'write' && body.path === '/5/0/1') {
      writes.push(String(body.value));
      if (writes.length > 20) signal.abort('timeout'); // a driver rewriting for ever: stop it here
      signal.signal.throwIfAborted();
      fw = script.onWrite(fw, `a${++attempts}`);
      return { id: 'x', code: '2.04' };
    }
    if (body.op === 'execute' && body.path === '/5/0/2') {
      fw = { ...fw, state: 0, result: 1 };
      if (script.regIdAfterUpdate) device.regId = script.regIdAfterUpdate;
      return { id: 'x', code: '2.04' };
    }
    if (body.path === '/3/0/3') return { id: 'x', code: '2.05', value: script.version() };
    if (body.path === '/5/0') return { id: body.op, code: '2.05', value: object5(script.read ? script.read(fw) : fw) };
    return { id: 'x', code: '4.04', reason: 'not scripted' };
  };
  const ctx: DriverContext = {
    deviceId: 'd1',
    params: { timeoutSeconds: 600, packageUri: URI },
    job: { FirmwareVersionBefore: null } as JobRecord,
    signal: signal.signal,
    device: () => device,
    request: async (body) => answer(body),
    wake: async () => {
      if (++wakes > maxWakes) signal.abort('timeout');
      signal.signal.throwIfAborted();
    },
    patch: (p) => void patches.push(p),
    step: (step, detail) => void log.push(detail === undefined ? { time: new Date(hubNow).toISOString(), step } : { time: new Date(hubNow).toISOString(), step, detail }),
    logged: (step) => [...log].reverse().find((l) => l.step === step),
    now: () => hubNow,
  };
  const end = await firmwareUpdateDriver.run(ctx).catch((e: unknown) => (signal.signal.aborted ? 'looped' : Promise.reject(e)));
  return { end, writes, log };
}

describe('firmware-update driver: whose attempt', () => {
  it('writes the Package URI once when the device fails at once and its clock is 10 s behind (was: rewritten again and again)', async () => {
    const hubNow = Date.UTC(2024, 5, 1, 12, 0, 0);
    const deviceNow = Math.floor((hubNow - 10_000) / 1000);
    // a 404 at once: by the time the hub looks, the attempt is over (Idle, Update Result 7), stamped by the device's clock
    const r = await drive({ onWrite: (_fw, attempt) => ({ state: 0, result: 7, uri: URI, attempt, pkgVersion: '', changed: deviceNow }), version: () => '1.0.0' }, hubNow);
    expect(r.writes).toEqual([URI]);
    expect(r.end).toMatchObject({ status: 'Failed', patch: { UpdateResult: 7, ErrorCode: 'not-found' } });
  });

  it('does not take an earlier attempt with the same URI for its own', async () => {
    const hubNow = Date.UTC(2024, 5, 1, 12, 0, 0);
    let first = true;
    const r = await drive(
      {
        // the device already failed this URI before the job (attempt a0, same URI): the job must write it again
        read: (fw) => (first ? ((first = false), { ...fw, uri: URI, result: 4 }) : fw),
        onWrite: (_fw, attempt) => ({ state: 2, result: 0, uri: URI, attempt, pkgVersion: '2.0.0', changed: 0 }),
        version: () => '2.0.0',
        regIdAfterUpdate: 'r2',
      },
      hubNow,
    );
    expect(r.writes).toEqual([URI]);
    expect(r.end).toMatchObject({ status: 'Completed', message: 'updated 2.0.0 → 2.0.0' });
  });
});

describe('firmware-update driver: a success must be confirmed by the device', () => {
  const downloaded = (_fw: Fw, attempt: string): Fw => ({ state: 2, result: 0, uri: URI, attempt, pkgVersion: '2.0.0', changed: 0 });

  it('completes when the device runs the package\'s version on a new registration', async () => {
    let v = '1.0.0';
    const r = await drive({ onWrite: (fw, a) => ((v = '1.0.0'), downloaded(fw, a)), version: () => v, regIdAfterUpdate: 'r2', read: (fw) => (fw.state === 0 && fw.result === 1 ? ((v = '2.0.0'), fw) : fw) }, Date.now());
    expect(r.end).toMatchObject({ status: 'Completed', message: 'updated 1.0.0 → 2.0.0', patch: { FirmwareVersionAfter: '2.0.0', UpdateResult: 1 } });
  });

  it('refuses a success while the device still runs its old version', async () => {
    const r = await drive({ onWrite: downloaded, version: () => '1.0.0', regIdAfterUpdate: 'r2' }, Date.now());
    expect(r.end).toMatchObject({ status: 'Failed', patch: { ErrorCode: 'unconfirmed' } });
    expect((r.end as { message: string }).message).toBe("the device reported success, but it runs 1.0.0, not the package's 2.0.0; not recorded as updated");
  });

  it('refuses a success from a device that never restarted after Update', async () => {
    const r = await drive({ onWrite: downloaded, version: () => '2.0.0' }, Date.now());
    expect(r.end).toMatchObject({ status: 'Failed', patch: { ErrorCode: 'unconfirmed' } });
    expect((r.end as { message: string }).message).toContain('it has not restarted since Update was executed');
  });
});
