// The request side of the agent (agent/core/request-actions.ts) against a recording ActionHost: what each action
// answers, and that the request id is recorded only right before something changes (never for a refusal or a no-op).
import { describe, expect, it } from 'vitest';
import { initialFirmwareState, transition, type FirmwareEvent, type FirmwareState } from '../../agent/core/firmware-machine.js';
import type { Action } from '../../agent/core/objects/lw-object.js';
import type { ConfigPort, ConfigTrial } from '../../agent/core/ports.js';
import { act, confirmOrRevert, type ActionHost } from '../../agent/core/request-actions.js';

function rig(opts: { config?: Partial<ConfigPort>; connected?: boolean; firmware?: FirmwareState } = {}) {
  const calls: string[] = [];
  let firmware = opts.firmware ?? initialFirmwareState();
  let settings = { timezone: 'Europe/Paris', utcOffset: '' };
  const config: ConfigPort | undefined = opts.config
    ? ({
        check: () => undefined,
        apply: async () => ({ changed: true }),
        confirm: async () => void calls.push('confirm'),
        revert: async (why: string) => void calls.push(`revert: ${why}`),
        ...opts.config,
      } as ConfigPort)
    : undefined;
  const host: ActionHost = {
    firmware: () => firmware,
    settings: () => settings,
    config,
    logger: { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} } as unknown as ActionHost['logger'],
    dispatch: async (e: FirmwareEvent) => {
      calls.push(`dispatch ${e.type}`);
      const out = transition(firmware, e);
      if (!out.rejected) firmware = out.state;
      return out;
    },
    updateSettings: async (patch) => {
      calls.push('save settings');
      settings = { ...settings, ...patch };
    },
    rebootSoon: (why) => void calls.push(`reboot: ${why}`),
    restartSoon: (why) => void calls.push(`restart soon: ${why}`),
    restart: async (why) => void calls.push(`restart: ${why}`),
    report: () => void calls.push('report'),
    waitConnected: async () => opts.connected ?? true,
    stopping: () => false,
  };
  const record = async () => void calls.push('record');
  const run = (action: Action) => act(host, 'r1', action, record);
  return { host, calls, run };
}

const uri = (at = 1): FirmwareEvent => ({ type: 'uri-written', uri: 'https://pkg.example/fw.fota', attemptId: 'a1', at });

describe('request actions', () => {
  it('a firmware request that changes the state is recorded before it is dispatched; a refused one is not recorded', async () => {
    const r = rig();
    expect(await r.run({ kind: 'firmware', event: uri() })).toEqual({ id: 'r1', code: '2.04' });
    expect(r.calls.slice(0, 2)).toEqual(['record', 'dispatch uri-written']);
    r.calls.length = 0;
    // Update while nothing is downloaded: the machine refuses it (LwM2M: 4.05 method not allowed in this state)
    const fresh = rig();
    const res = await fresh.run({ kind: 'firmware', event: { type: 'update-executed', at: 2 } });
    expect(res.code).toBe('4.05');
    expect(res.reason).toBeTruthy();
    expect(fresh.calls).not.toContain('record');
  });

  it('Reboot is recorded, answered 2.04, and the reboot comes after the answer', async () => {
    const r = rig();
    expect(await r.run({ kind: 'reboot' })).toEqual({ id: 'r1', code: '2.04' });
    expect(r.calls).toEqual(['record', 'reboot: requested by the hub (Object 3 Reboot)']);
  });

  it('settings: the value in force costs no record and no save; a new value is recorded then saved; a failed save is 5.00', async () => {
    const r = rig();
    expect(await r.run({ kind: 'settings', patch: { timezone: 'Europe/Paris' } })).toEqual({ id: 'r1', code: '2.04' });
    expect(r.calls).toEqual([]);
    expect(await r.run({ kind: 'settings', patch: { timezone: 'UTC' } })).toEqual({ id: 'r1', code: '2.04' });
    expect(r.calls).toEqual(['record', 'save settings']);
    r.host.updateSettings = async () => {
      throw new Error('the state folder is read-only');
    };
    expect(await r.run({ kind: 'settings', patch: { timezone: 'Asia/Tokyo' } })).toEqual({ id: 'r1', code: '5.00', reason: 'the state folder is read-only' });
  });

  it('configuration: refused before any record when invalid, when updating, or without remote configuration', async () => {
    expect(await rig().run({ kind: 'config', patch: { x: 1 } })).toMatchObject({ code: '4.04' });
    const bad = rig({ config: { check: () => 'broker.url: not a URL' } });
    expect(await bad.run({ kind: 'config', patch: { 'broker.url': 'nope' } })).toEqual({ id: 'r1', code: '4.00', reason: 'configuration refused, nothing changed: broker.url: not a URL' });
    expect(bad.calls).toEqual([]);
    const updating = rig({ config: {}, firmware: { ...initialFirmwareState(), phase: 'updating' } });
    expect(await updating.run({ kind: 'config', patch: { x: 1 } })).toMatchObject({ code: '4.05' });
    expect(updating.calls).toEqual([]);
  });

  it('configuration: a change is recorded, reported, and the agent restarts after the answer; the same values again restart nothing', async () => {
    const r = rig({ config: {} });
    expect(await r.run({ kind: 'config', patch: { 'log.level': 'debug' } })).toEqual({ id: 'r1', code: '2.04' });
    expect(r.calls).toEqual(['record', 'report', 'restart soon: configuration changed: log.level']);
    const same = rig({ config: { apply: async () => ({ changed: false }) } });
    expect(await same.run({ kind: 'config', patch: { 'log.level': 'debug' } })).toEqual({ id: 'r1', code: '2.04' });
    expect(same.calls).toEqual(['record']);
  });

  it('confirm or revert: kept when the agent connects with the change, else reverted with the reason and restarted', async () => {
    const trial: ConfigTrial = { revision: 3, keys: ['broker.url'], timeoutMs: 90_000 };
    const ok = rig({ config: {}, connected: true });
    await confirmOrRevert(ok.host, trial);
    expect(ok.calls).toEqual(['confirm', 'report']);
    const lost = rig({ config: {}, connected: false });
    await confirmOrRevert(lost.host, trial);
    expect(lost.calls).toEqual([
      'revert: the agent did not connect to the broker within 90 s with it',
      'restart: configuration revision 3 reverted: the agent did not connect to the broker within 90 s with it',
    ]);
  });
});
