// The firmware state machine as a table: every (state × event) pair is either handled or rejected, and the
// handled ones follow LwM2M 1.1 Object 5 (Appendix E.6.1) plus the A/B trial-boot rules.
import { describe, expect, it } from 'vitest';
import {
  EVENT_TYPES,
  MOVES,
  STATE_KEYS,
  initialFirmwareState,
  lwm2mState,
  stateKey,
  transition,
  type EventType,
  type FirmwareEvent,
  type FirmwareState,
  type StateKey,
} from '../../agent/core/firmware-machine.js';
import { UPDATE_RESULT_FOR } from '../../agent/core/update-result.js';
import { ERROR_CODES } from '../../agent/core/errors.js';

const AT = 1_700_000_000_000;
const PKG = { name: 'acme', version: '3.0.0', payloadSize: 1024, sha256: 'ab'.repeat(32) };

function stateFor(key: StateKey): FirmwareState {
  const s = initialFirmwareState();
  if (key === 'idle') return s;
  if (key === 'downloading') return { ...s, phase: 'downloading', uri: 'https://x/p', attemptId: 'a1' };
  if (key === 'downloaded') return { ...s, phase: 'downloaded', uri: 'https://x/p', attemptId: 'a1', pkgName: 'acme', pkgVersion: '3.0.0', progress: 100 };
  const step = key.slice('updating:'.length) as FirmwareState['step'];
  if (step === 'resetting') return { ...s, phase: 'updating', step, operation: 'factory-reset', attemptId: 'a1', pkgName: 'factory', pkgVersion: '1.0.0' };
  return { ...s, phase: 'updating', step, uri: 'https://x/p', attemptId: 'a1', pkgName: 'acme', pkgVersion: '3.0.0', target: step === 'activating' || step === 'flashing' ? null : 'B', from: 'A' };
}

function eventFor(type: EventType): FirmwareEvent {
  switch (type) {
    case 'uri-written':
      return { type, uri: 'https://x/new', attemptId: 'a2', at: AT };
    case 'uri-cleared':
    case 'cancel-executed':
    case 'update-executed':
    case 'health-passed':
    case 'committed':
    case 'agent-reset':
      return { type, at: AT };
    case 'factory-reset-executed':
      return { type, attemptId: 'a3', at: AT };
    case 'download-progressed':
      return { type, attemptId: 'a1', percent: 42 };
    case 'download-checkpointed':
      return { type, attemptId: 'a1', resume: { written: 10 } };
    case 'download-succeeded':
      return { type, attemptId: 'a1', pkg: PKG, at: AT };
    case 'download-failed':
      return { type, attemptId: 'a1', code: 'integrity-mismatch', reason: 'sha mismatch', at: AT };
    case 'image-flashed':
      return { type, attemptId: 'a1', version: '1.0.0', at: AT };
    case 'flash-failed':
      return { type, attemptId: 'a1', code: 'io-error', reason: 'EIO', at: AT };
    case 'slot-activated':
      return { type, target: 'B', from: 'A', fromVersion: '1.0.0', at: AT };
    case 'activation-failed':
      return { type, code: 'activation-failed', reason: 'fw_setenv failed', at: AT };
    case 'booted':
      return { type, boot: { booted: 'B', trial: true, pending: null, firmwareVersion: '3.0.0' }, at: AT };
    case 'health-failed':
      return { type, reason: 'no broker', at: AT };
    case 'download-retried':
      return { type, attemptId: 'a1', reason: 'connection to 127.0.0.1:8080 lost (ECONNREFUSED)' };
    case 'commit-failed':
      return { type, reason: 'env write failed', at: AT };
    case 'floor-configured':
      return { type, floor: '2.0.0' };
    case 'state-save-failed':
      return { type, code: 'no-space', reason: 'the agent could not save its state (ENOSPC)', next: { ...initialFirmwareState(), phase: 'downloading' }, effects: [], at: AT };
  }
}

const HUB_EVENTS: EventType[] = ['uri-written', 'uri-cleared', 'cancel-executed', 'update-executed', 'factory-reset-executed'];

describe('firmware machine: the whole table', () => {
  for (const key of STATE_KEYS) {
    for (const type of EVENT_TYPES) {
      it(`${key} × ${type} is handled or rejected, never thrown`, () => {
        const s = stateFor(key);
        const out = transition(s, eventFor(type));
        const listed = MOVES[key][type] !== undefined;
        if (!listed) {
          expect(out.rejected?.code).toBe('ignored');
          expect(out.state).toBe(s);
          expect(out.effects).toEqual([]);
          // a request from the hub is always answered with a protocol code, never silently ignored
          expect(HUB_EVENTS).not.toContain(type);
          return;
        }
        if (out.rejected) {
          expect(out.state).toBe(s);
          expect(out.effects).toEqual([]);
          expect(out.rejected.reason.length).toBeGreaterThan(5);
          if (HUB_EVENTS.includes(type)) expect(['4.00', '4.05']).toContain(out.rejected.code);
        } else {
          expect(STATE_KEYS).toContain(stateKey(out.state));
          expect(lwm2mState(out.state.phase)).toBeGreaterThanOrEqual(0);
        }
      });
    }
  }

  it('every error code maps to an Update Result from 2 to 9', () => {
    for (const code of ERROR_CODES) {
      expect(UPDATE_RESULT_FOR[code]).toBeGreaterThanOrEqual(2);
      expect(UPDATE_RESULT_FOR[code]).toBeLessThanOrEqual(9);
    }
  });
});

describe('firmware machine: LwM2M Object 5 transitions', () => {
  it('Idle + write URI → Downloading, result reset to 0, download starts', () => {
    const s = { ...initialFirmwareState(), result: 5 as const, reason: 'old' };
    const out = transition(s, eventFor('uri-written'));
    expect(out.state.phase).toBe('downloading');
    expect(out.state.result).toBe(0);
    expect(out.state.reason).toBe('');
    expect(out.state.changedAt).toBe(AT);
    expect(out.effects).toEqual([{ type: 'start-download', uri: 'https://x/new', attemptId: 'a2', resume: null, allowDowngrade: false }]);
  });

  it('a non-empty URI outside Idle answers 4.00', () => {
    for (const key of STATE_KEYS.filter((k) => k !== 'idle')) expect(transition(stateFor(key), eventFor('uri-written')).rejected?.code).toBe('4.00');
  });

  it('an empty URI in Downloading or Downloaded → Idle, result 0, download aborted', () => {
    for (const key of ['downloading', 'downloaded'] as const) {
      const out = transition({ ...stateFor(key), result: 0 }, eventFor('uri-cleared'));
      expect(out.state.phase).toBe('idle');
      expect(out.state.result).toBe(0);
      expect(out.state.uri).toBe('');
      expect(out.effects).toEqual([{ type: 'abort-download' }]);
    }
  });

  it('an empty URI in Idle resets Update Result to 0', () => {
    const out = transition({ ...initialFirmwareState(), result: 8, reason: 'x', errorCode: 'boot-failed' }, eventFor('uri-cleared'));
    expect(out.state.result).toBe(0);
    expect(out.state.errorCode).toBe('');
  });

  it('Cancel in Downloading/Downloaded → Idle + 10; in Idle or Updating → 4.05', () => {
    for (const key of ['downloading', 'downloaded'] as const) {
      const out = transition(stateFor(key), eventFor('cancel-executed'));
      expect(out.state.phase).toBe('idle');
      expect(out.state.result).toBe(10);
    }
    expect(transition(stateFor('idle'), eventFor('cancel-executed')).rejected?.code).toBe('4.05');
    expect(transition(stateFor('updating:verifying'), eventFor('cancel-executed')).rejected?.code).toBe('4.05');
    expect(transition(stateFor('updating:rebooting'), eventFor('uri-cleared')).rejected?.code).toBe('4.05');
  });

  it('Update only in Downloaded (else 4.05); it resets the result and activates the slot', () => {
    const out = transition(stateFor('downloaded'), eventFor('update-executed'));
    expect(stateKey(out.state)).toBe('updating:activating');
    expect(out.effects).toEqual([{ type: 'activate-slot' }]);
    for (const key of STATE_KEYS.filter((k) => k !== 'downloaded')) expect(transition(stateFor(key), eventFor('update-executed')).rejected?.code).toBe('4.05');
  });

  it('download failure → Idle with the mapped result and the reason', () => {
    const out = transition(stateFor('downloading'), eventFor('download-failed'));
    expect(out.state.phase).toBe('idle');
    expect(out.state.result).toBe(5);
    expect(out.state.reason).toBe('sha mismatch');
    expect(out.state.errorCode).toBe('integrity-mismatch');
  });

  it('events of an old attempt are ignored (a cancelled download finishing late)', () => {
    const s = { ...stateFor('downloading'), attemptId: 'a9' };
    for (const t of ['download-succeeded', 'download-failed', 'download-progressed', 'download-checkpointed'] as const) {
      expect(transition(s, eventFor(t)).rejected?.code).toBe('ignored');
    }
  });

  it('a verified download → Downloaded with PkgName/PkgVersion', () => {
    const out = transition(stateFor('downloading'), eventFor('download-succeeded'));
    expect(out.state.phase).toBe('downloaded');
    expect(out.state.pkgVersion).toBe('3.0.0');
    expect(out.state.progress).toBe(100);
  });

  it('agent restart mid-download resumes from the checkpoint', () => {
    const s = { ...stateFor('downloading'), resume: { written: 4096 } };
    const out = transition(s, { type: 'booted', boot: { booted: 'A', trial: false, pending: null, firmwareVersion: '1.0.0' }, at: AT });
    expect(out.effects).toEqual([{ type: 'start-download', uri: 'https://x/p', attemptId: 'a1', resume: { written: 4096 }, allowDowngrade: false }]);
  });
});

describe('firmware machine: trial boot, commit and rollback', () => {
  const boot = (booted: 'A' | 'B', trial: boolean, pending: 'A' | 'B' | null = null): FirmwareEvent => ({ type: 'booted', boot: { booted, trial, pending, firmwareVersion: '' }, at: AT });

  it('activation → reboot; the new boot on the target as a trial → health check → commit → Idle + 1', () => {
    let s = transition(stateFor('updating:activating'), eventFor('slot-activated'));
    expect(stateKey(s.state)).toBe('updating:rebooting');
    expect(s.effects[0]?.type).toBe('reboot');
    s = transition(s.state, boot('B', true));
    expect(stateKey(s.state)).toBe('updating:verifying');
    expect(s.effects).toEqual([{ type: 'check-health' }]);
    s = transition(s.state, eventFor('health-passed'));
    expect(s.effects).toEqual([{ type: 'commit' }]);
    s = transition(s.state, eventFor('committed'));
    expect(s.state.phase).toBe('idle');
    expect(s.state.result).toBe(1);
  });

  it('power cut after activation but before the reboot: reboot again', () => {
    const out = transition(stateFor('updating:rebooting'), boot('A', false, 'B'));
    expect(out.effects).toEqual([{ type: 'reboot', reason: expect.stringContaining('pending') }]);
    expect(stateKey(out.state)).toBe('updating:rebooting');
  });

  it('the bootloader fell back (new firmware never came up) → Idle + 8, boot counter exhausted', () => {
    const out = transition(stateFor('updating:rebooting'), boot('A', false));
    expect(out.state.phase).toBe('idle');
    expect(out.state.result).toBe(8);
    expect(out.state.errorCode).toBe('boot-failed');
    expect(out.state.reason).toContain('boot counter exhausted');
  });

  it('failed health check → revert the trial and reboot; back on the old slot → Idle + 8 with the health reason', () => {
    let s = transition(stateFor('updating:verifying'), eventFor('health-failed'));
    expect(stateKey(s.state)).toBe('updating:reverting');
    expect(s.effects.map((e) => e.type)).toEqual(['revert-trial', 'reboot']);
    s = transition(s.state, boot('A', false));
    expect(s.state.result).toBe(8);
    expect(s.state.errorCode).toBe('health-check-failed');
    expect(s.state.reason).toBe('health check failed: no broker');
  });

  it('power cut while reverting on the trial slot: revert and reboot again', () => {
    const s = { ...stateFor('updating:reverting'), reason: 'health check failed: x', errorCode: 'health-check-failed' as const };
    const out = transition(s, boot('B', true));
    expect(out.effects.map((e) => e.type)).toEqual(['revert-trial', 'reboot']);
  });

  it('an agent that keeps crashing during the health check gives up after 3 starts', () => {
    let s: FirmwareState = { ...stateFor('updating:verifying'), verifyStarts: 1 };
    for (let i = 0; i < 2; i++) {
      const out = transition(s, boot('B', true));
      expect(out.effects).toEqual([{ type: 'check-health' }]);
      s = out.state;
    }
    const out = transition(s, boot('B', true));
    expect(stateKey(out.state)).toBe('updating:reverting');
    expect(out.state.reason).toContain('restarted');
  });

  it('power cut after the commit landed but before the state was saved: success', () => {
    const out = transition(stateFor('updating:committing'), boot('B', false));
    expect(out.state.result).toBe(1);
  });

  it('a factory reset ends in Idle with result 0, not 1', () => {
    let s = transition(stateFor('idle'), eventFor('factory-reset-executed'));
    expect(s.effects).toEqual([{ type: 'flash-factory-image', attemptId: 'a3' }]);
    s = transition(s.state, { type: 'image-flashed', attemptId: 'a3', version: '1.0.0', at: AT });
    expect(s.effects).toEqual([{ type: 'activate-slot' }]);
    s = transition(s.state, eventFor('slot-activated'));
    s = transition(s.state, boot('B', true));
    s = transition(s.state, eventFor('health-passed'));
    s = transition(s.state, eventFor('committed'));
    // the configuration reset is a saved step of its own, so a power cut cannot skip it
    expect(stateKey(s.state)).toBe('updating:resetting');
    expect(s.effects).toEqual([{ type: 'reset-agent' }]);
    expect(transition(s.state, boot('B', false)).effects).toEqual([{ type: 'reset-agent' }]);
    s = transition(s.state, eventFor('agent-reset'));
    expect(s.state.phase).toBe('idle');
    expect(s.state.result).toBe(0);
  });
});

describe('firmware machine: anti-rollback', () => {
  const boot = (booted: 'A' | 'B', trial: boolean): FirmwareEvent => ({ type: 'booted', boot: { booted, trial, pending: null, firmwareVersion: '' }, at: AT });

  /** a whole update of a package declaring `securityFloor`, from Idle with `start`; the final state */
  function update(start: FirmwareState, securityFloor: string | undefined, ending: 'commit' | 'fall back', allowDowngrade?: boolean): FirmwareState {
    let s = transition(start, { type: 'uri-written', uri: 'https://x/p', attemptId: 'a9', at: AT, ...(allowDowngrade ? { allowDowngrade } : {}) }).state;
    s = transition(s, { type: 'download-succeeded', attemptId: 'a9', pkg: { ...PKG, ...(securityFloor ? { securityFloor } : {}) }, at: AT }).state;
    s = transition(s, eventFor('update-executed')).state;
    s = transition(s, eventFor('slot-activated')).state;
    if (ending === 'fall back') return transition(s, boot('A', false)).state;
    s = transition(s, boot('B', true)).state;
    s = transition(s, eventFor('health-passed')).state;
    return transition(s, eventFor('committed')).state;
  }

  it('the job\'s allowDowngrade travels with the attempt into the download, also after a restart', () => {
    const out = transition(initialFirmwareState(), { type: 'uri-written', uri: 'https://x/p', attemptId: 'a9', at: AT, allowDowngrade: true });
    expect(out.effects).toEqual([{ type: 'start-download', uri: 'https://x/p', attemptId: 'a9', resume: null, allowDowngrade: true }]);
    expect(transition(out.state, boot('A', false)).effects).toEqual([expect.objectContaining({ type: 'start-download', allowDowngrade: true })]);
    // the next attempt without it does not inherit it
    const idle = transition(out.state, eventFor('uri-cleared')).state;
    expect(transition(idle, eventFor('uri-written')).effects).toEqual([expect.objectContaining({ allowDowngrade: false })]);
  });

  it('the floor rises to a committed package\'s securityFloor, in the same state as the success', () => {
    const s = update(initialFirmwareState(), '2.5.0', 'commit');
    expect(s).toMatchObject({ phase: 'idle', result: 1, floor: '2.5.0' });
    // a later package without a floor, or with a lower one, never lowers it
    expect(update(s, undefined, 'commit').floor).toBe('2.5.0');
    expect(update(s, '1.0.0', 'commit').floor).toBe('2.5.0');
  });

  it('a package that never got committed does not raise the floor (the device may go back to what it runs)', () => {
    const s = update({ ...initialFirmwareState(), floor: '1.0.0' }, '2.5.0', 'fall back');
    expect(s).toMatchObject({ phase: 'idle', result: 8, floor: '1.0.0' });
  });

  it('the configured floor raises the floor in any state, never lowers it, and survives a factory reset', () => {
    for (const key of STATE_KEYS) {
      const s = { ...stateFor(key), floor: '1.0.0' };
      expect(transition(s, { type: 'floor-configured', floor: '2.0.0' }).state).toEqual({ ...s, floor: '2.0.0' });
      expect(transition(s, { type: 'floor-configured', floor: '0.5.0' }).rejected?.code).toBe('ignored');
    }
    let s = transition({ ...initialFirmwareState(), floor: '2.0.0' }, eventFor('factory-reset-executed'));
    s = transition(s.state, { type: 'image-flashed', attemptId: 'a3', version: '2.1.0', at: AT });
    s = transition(s.state, eventFor('slot-activated'));
    s = transition(s.state, boot('B', true));
    s = transition(s.state, eventFor('health-passed'));
    s = transition(s.state, eventFor('committed'));
    s = transition(s.state, { type: 'agent-reset', at: AT });
    expect(s.state).toMatchObject({ phase: 'idle', result: 0, floor: '2.0.0' });
  });
});
