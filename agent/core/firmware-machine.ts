// The firmware update state machine (LwM2M 1.1 Object 5 semantics, A/B install with trial boot and commit).
// Pure: no IO, no clock, no throw. `transition(state, event)` returns the next state and the effects to run.
// The table `MOVES` is the whole behaviour and doubles as documentation (docs/state-machine.md is generated from it).

import { FwState, UpdateResult, type FwStateValue, type UpdateResultValue } from '../../protocol/lwm2m.js';
import { higherFloor } from '../../protocol/versions.js';
import type { ErrorCode } from './errors.js';
import { updateResultFor } from './update-result.js';
import { fallbackOf, fallbackReason, findBoot } from './boot-reconcile.js';
import { otherSlot, type BootStatus, type PackageInfo, type ResumeToken, type SlotName } from './ports.js';

export type Phase = 'idle' | 'downloading' | 'downloaded' | 'updating';
/**
 * Sub-steps of Updating. `flashing` and `resetting` only for a factory reset (the factory image is copied first; the
 * agent's configuration and settings go back to the shipped defaults last).
 */
export type Step = 'flashing' | 'activating' | 'rebooting' | 'verifying' | 'committing' | 'reverting' | 'resetting';
export type Operation = 'update' | 'factory-reset';

export interface FirmwareState {
  phase: Phase;
  step: Step | null;
  operation: Operation;
  result: UpdateResultValue;
  /** readable reason for `result` ("" when none) */
  reason: string;
  /** stable code behind a failure result ("" when none) */
  errorCode: ErrorCode | '';
  uri: string;
  pkgName: string;
  pkgVersion: string;
  /** download progress in percent */
  progress: number;
  /** ms since the epoch of the last change of `phase` (Object 5 resource 12) */
  changedAt: number;
  /** id of the current or last attempt; every event of an attempt carries it */
  attemptId: string;
  resume: ResumeToken | null;
  /** the slot being tried and the slot we came from, set once activated */
  target: SlotName | null;
  from: SlotName | null;
  fromVersion: string;
  /** agent starts seen during `verifying`: the loop guard for an agent that crashes during its health check */
  verifyStarts: number;
  /** the attempt's job allows a version below the installed one (never one below `floor`) */
  allowDowngrade: boolean;
  /** the security floor the downloaded package declares ("" = none); `floor` rises to it when the package is committed */
  pkgFloor: string;
  /**
   * the device's security floor ("" = none): no version below it is installed, whatever a job allows, nor a factory
   * image. It only rises: to the configured floor at start, to a committed package's floor (Android AVB raises its
   * rollback index once the slot is marked successful, so a failed trial can still go back).
   */
  floor: string;
}

export const MAX_VERIFY_STARTS = 3;

export function initialFirmwareState(): FirmwareState {
  return {
    phase: 'idle',
    step: null,
    operation: 'update',
    result: UpdateResult.Initial,
    reason: '',
    errorCode: '',
    uri: '',
    pkgName: '',
    pkgVersion: '',
    progress: 0,
    changedAt: 0,
    attemptId: '',
    resume: null,
    target: null,
    from: null,
    fromVersion: '',
    verifyStarts: 0,
    allowDowngrade: false,
    pkgFloor: '',
    floor: '',
  };
}

export type FirmwareEvent =
  /** `allowDowngrade`: the request allows a version below the installed one (Object 5 resource 26245) */
  | { type: 'uri-written'; uri: string; attemptId: string; at: number; allowDowngrade?: boolean }
  | { type: 'uri-cleared'; at: number }
  | { type: 'cancel-executed'; at: number }
  | { type: 'update-executed'; at: number }
  | { type: 'factory-reset-executed'; attemptId: string; at: number }
  | { type: 'download-progressed'; attemptId: string; percent: number }
  | { type: 'download-checkpointed'; attemptId: string; resume: ResumeToken }
  /** the download was interrupted and is retried: `reason` says why (the hub reads it while it waits) */
  | { type: 'download-retried'; attemptId: string; reason: string }
  | { type: 'download-succeeded'; attemptId: string; pkg: PackageInfo; at: number }
  | { type: 'download-failed'; attemptId: string; code: ErrorCode; reason: string; at: number }
  | { type: 'image-flashed'; attemptId: string; version: string; at: number }
  | { type: 'flash-failed'; attemptId: string; code: ErrorCode; reason: string; at: number }
  | { type: 'slot-activated'; target: SlotName; from: SlotName; fromVersion: string; at: number }
  | { type: 'activation-failed'; code: ErrorCode; reason: string; at: number }
  | { type: 'booted'; boot: BootStatus; at: number }
  | { type: 'health-passed'; at: number }
  | { type: 'health-failed'; reason: string; at: number }
  | { type: 'committed'; at: number }
  | { type: 'commit-failed'; reason: string; at: number }
  | { type: 'agent-reset'; at: number }
  /** the configured security floor, at every start: raises `floor` in any state (it never lowers it) */
  | { type: 'floor-configured'; floor: string }
  /**
   * The state `next` (with `effects`) could not be saved (a full or read-only state folder): memory still holds the
   * saved state. From the daemon, for events that are not requests (a request is refused instead).
   */
  | { type: 'state-save-failed'; code: ErrorCode; reason: string; next: FirmwareState; effects: Effect[]; at: number };

export type EventType = FirmwareEvent['type'];

export type Effect =
  | { type: 'start-download'; uri: string; attemptId: string; resume: ResumeToken | null; allowDowngrade: boolean }
  | { type: 'abort-download' }
  | { type: 'flash-factory-image'; attemptId: string }
  | { type: 'activate-slot' }
  | { type: 'reboot'; reason: string }
  | { type: 'check-health' }
  | { type: 'commit' }
  /** gives up a running trial, or disarms an armed slot (idempotent; nothing to do when neither) */
  | { type: 'revert-trial' }
  /** after a factory reset: configuration and settings back to the shipped defaults, then `agent-reset` */
  | { type: 'reset-agent' };

/** Why an event changed nothing: answered to the hub as 4.00/4.05 (5.00: the state could not be saved), or an outdated internal event. */
export interface Rejection {
  code: '4.00' | '4.05' | '5.00' | 'ignored';
  reason: string;
}

export interface Outcome {
  state: FirmwareState;
  effects: Effect[];
  rejected?: Rejection;
}

/** The state key used by the table: the phase, and for Updating its step. */
export type StateKey = 'idle' | 'downloading' | 'downloaded' | `updating:${Step}`;

export const STATE_KEYS: readonly StateKey[] = [
  'idle',
  'downloading',
  'downloaded',
  'updating:flashing',
  'updating:activating',
  'updating:rebooting',
  'updating:verifying',
  'updating:committing',
  'updating:reverting',
  'updating:resetting',
];

export const EVENT_TYPES: readonly EventType[] = [
  'uri-written',
  'uri-cleared',
  'cancel-executed',
  'update-executed',
  'factory-reset-executed',
  'download-progressed',
  'download-checkpointed',
  'download-retried',
  'download-succeeded',
  'download-failed',
  'image-flashed',
  'flash-failed',
  'slot-activated',
  'activation-failed',
  'booted',
  'health-passed',
  'health-failed',
  'committed',
  'commit-failed',
  'agent-reset',
  'floor-configured',
  'state-save-failed',
];

export function stateKey(s: FirmwareState): StateKey {
  return s.phase === 'updating' ? `updating:${s.step ?? 'activating'}` : s.phase;
}

/** Object 5 State resource value for a phase. */
export function lwm2mState(phase: Phase): FwStateValue {
  return { idle: FwState.Idle, downloading: FwState.Downloading, downloaded: FwState.Downloaded, updating: FwState.Updating }[phase];
}

type Handler<E extends FirmwareEvent = FirmwareEvent> = (s: FirmwareState, e: E) => Outcome;
type Row = { [K in EventType]?: Handler<Extract<FirmwareEvent, { type: K }>> };

// ---- small builders (keep the table readable) ----

const go = (state: FirmwareState, ...effects: Effect[]): Outcome => ({ state, effects });
const reject = (s: FirmwareState, code: Rejection['code'], reason: string): Outcome => ({ state: s, effects: [], rejected: { code, reason } });

function enter(s: FirmwareState, phase: Phase, at: number, patch: Partial<FirmwareState> = {}): FirmwareState {
  const changedAt = phase === s.phase ? s.changedAt : at;
  return { ...s, ...patch, phase, changedAt, step: phase === 'updating' ? (patch.step ?? s.step) : null };
}

/** Back to Idle with a result; forgets everything of the attempt except what the hub may still read. */
function finish(s: FirmwareState, at: number, result: UpdateResultValue, reason: string, errorCode: ErrorCode | ''): FirmwareState {
  return enter(s, 'idle', at, {
    result,
    reason,
    errorCode,
    progress: result === UpdateResult.Success ? 100 : s.progress,
    resume: null,
    target: null,
    from: null,
    verifyStarts: 0,
    operation: s.operation,
  });
}

/**
 * A committed slot ends the attempt: Update Result 1 for an update. A factory reset is not a firmware update: the
 * agent's own configuration and settings go back to the shipped defaults first (a saved step, so a power cut cannot
 * skip it), then it ends with 0.
 */
function succeed(s: FirmwareState, at: number): Outcome {
  if (s.operation === 'factory-reset') return go(stepTo(s, 'resetting', at, { target: null, from: null, verifyStarts: 0 }), { type: 'reset-agent' });
  // saved with the success itself: a power cut cannot commit the package and lose its floor
  return go(finish({ ...s, floor: higherFloor(s.floor, s.pkgFloor) }, at, UpdateResult.Success, '', ''));
}

function fail(s: FirmwareState, at: number, code: ErrorCode, reason: string): FirmwareState {
  return finish(s, at, updateResultFor(code), reason, code);
}

const stale = (what: string) => (s: FirmwareState) => reject(s, 'ignored', `${what} does not apply in ${stateKey(s)}`);
const ofAttempt = (s: FirmwareState, e: { attemptId: string }) => e.attemptId === s.attemptId;

function stepTo(s: FirmwareState, step: Step, at: number, patch: Partial<FirmwareState> = {}): FirmwareState {
  return enter(s, 'updating', at, { ...patch, step });
}

const uriOnlyInIdle: Handler<Extract<FirmwareEvent, { type: 'uri-written' }>> = (s) =>
  reject(s, '4.00', `Package URI can only be written in Idle; the state is ${s.phase} (write an empty URI or execute Cancel first)`);
const updateNeedsDownloaded: Handler = (s) => reject(s, '4.05', `Update can only be executed in Downloaded; the state is ${s.phase}`);
const busyUpdating: Handler = (s) => reject(s, '4.05', 'an update is being installed; it cannot be cancelled now');
const resetNeedsIdle: Handler = (s) => reject(s, '4.05', `Factory Reset needs Idle; the state is ${s.phase} (cancel first)`);

/** Events every state takes the same way. */
const ANY_STATE: Row = {
  // the configured floor only ever raises the device's floor, whatever the device is doing
  'floor-configured': (s, e) => {
    const floor = higherFloor(s.floor, e.floor);
    return floor === s.floor ? reject(s, 'ignored', 'the security floor is already at or above the configured one') : go({ ...s, floor });
  },
};

/** What the hub may ask while an update is being installed: nothing that changes it (LwM2M: 4.00/4.05). */
const WHILE_UPDATING: Row = {
  ...ANY_STATE,
  'uri-written': uriOnlyInIdle,
  'uri-cleared': busyUpdating,
  'cancel-executed': busyUpdating,
  'update-executed': updateNeedsDownloaded,
  'factory-reset-executed': resetNeedsIdle,
};

/** Clearing the URI or cancelling while downloading/downloaded: back to Idle, the image is discarded. */
function abandon(result: UpdateResultValue, reason: string): Handler {
  return (s, e) => go(finish({ ...s, uri: '', pkgName: '', pkgVersion: '', progress: 0 }, (e as { at: number }).at, result, reason, ''), { type: 'abort-download' });
}

/**
 * The booted event once a target is saved (rebooting, verifying, committing, reverting): where did the bootloader put
 * us? `onTarget` decides for the target slot, running as a trial or already committed.
 */
function afterBoot(s: FirmwareState, boot: BootStatus, at: number, onTarget: (trial: boolean) => Outcome): Outcome {
  const found = findBoot(s, boot);
  switch (found.kind) {
    case 'trial-of-target':
      return onTarget(true);
    case 'target-committed': {
      // a slot armed behind a committed target is no part of this attempt: disarm it
      const out = onTarget(false);
      return boot.pending ? { ...out, effects: [...out.effects, { type: 'revert-trial' }] } : out;
    }
    case 'target-armed':
      return go(s, { type: 'reboot', reason: `trial boot of slot ${found.target} still pending` });
    default: {
      // off the target; a trial or an armed slot seen here is not this attempt's: the committed slot stays
      const tidy: Effect[] = boot.trial ? [{ type: 'revert-trial' }, { type: 'reboot', reason: `slot ${boot.booted} runs an uncommitted trial this attempt did not start` }] : boot.pending ? [{ type: 'revert-trial' }] : [];
      if (s.step === 'reverting') return go(fail(s, at, s.errorCode || 'health-check-failed', s.reason || `the new firmware was rejected and the bootloader went back to slot ${fallbackOf(s, boot)}`), ...tidy);
      const { code, reason } = fallbackReason(s, boot);
      return go(fail(s, at, code, reason), ...tidy);
    }
  }
}

/**
 * The booted event in a state that has armed nothing (idle, downloading, downloaded, flashing, resetting): a trial or
 * an armed slot found there belongs to no attempt the agent knows of. The device goes back to the firmware it last
 * committed, then `then` carries on from the saved state.
 */
function beforeActivation(s: FirmwareState, boot: BootStatus, ...then: Effect[]): Outcome {
  const found = findBoot(s, boot);
  if (found.kind === 'foreign-trial') return go(s, { type: 'revert-trial' }, { type: 'reboot', reason: `slot ${boot.booted} runs an uncommitted trial that no update of this agent started; going back to the committed slot` });
  if (found.kind === 'foreign-armed') return go(s, { type: 'revert-trial' }, ...then);
  return go(s, ...then);
}

/**
 * A state that could not be saved. What already happened stays true: an attempt that just ended stays ended, and
 * with nothing under way (Idle, Downloaded) the saved state simply stays. Otherwise the attempt ends here, with the
 * storage error's result, and is made safe without a reboot: the download stops, an armed slot is disarmed, a running
 * trial is marked bad (the next reboot, whenever it comes, returns to the committed slot). Never a reboot: with the
 * state folder still broken the next start would find the same saved state, and a reboot would loop.
 */
function unsaved(s: FirmwareState, e: Extract<FirmwareEvent, { type: 'state-save-failed' }>): Outcome {
  if (e.next.phase === 'idle' || s.phase === 'idle' || s.phase === 'downloaded') return go(e.next.phase === 'idle' ? e.next : s, ...e.effects);
  if (s.phase === 'downloading' || s.step === 'flashing') return go(fail(s, e.at, e.code, `${e.reason}; the update was stopped`), { type: 'abort-download' });
  if (s.step === 'resetting') return go(fail(s, e.at, e.code, `${e.reason}; the factory firmware runs, but the agent's configuration may not be back to its defaults`));
  const trial = s.step !== 'activating' || e.next.step === 'verifying';
  const what = trial ? `the trial of slot ${s.target ?? e.next.target ?? '?'} was given up: the device returns to its committed firmware at its next reboot` : 'the new slot was disarmed';
  return go(fail(s, e.at, e.code, `${e.reason}; the update was stopped and ${what}`), { type: 'revert-trial' });
}

const unsavedMove = { 'state-save-failed': unsaved } satisfies Row;

// ---- the table: every (state, event) pair not listed is rejected as 'ignored' (or with a protocol code) ----

export const MOVES: Record<StateKey, Row> = {
  idle: {
    ...ANY_STATE,
    ...unsavedMove,
    'uri-written': (s, e) =>
      go(
        enter(s, 'downloading', e.at, {
          ...{ uri: e.uri, attemptId: e.attemptId, result: UpdateResult.Initial, reason: '', errorCode: '', progress: 0, pkgName: '', pkgVersion: '', resume: null, operation: 'update' },
          ...{ allowDowngrade: e.allowDowngrade === true, pkgFloor: '' },
        }),
        { type: 'start-download', uri: e.uri, attemptId: e.attemptId, resume: null, allowDowngrade: e.allowDowngrade === true },
      ),
    // LwM2M 1.1 E.6.1: writing an empty URI in Idle resets Update Result to 0.
    'uri-cleared': (s, e) => go(finish({ ...s, uri: '' }, e.at, UpdateResult.Initial, '', '')),
    'cancel-executed': (s) => reject(s, '4.05', 'nothing to cancel: the state is idle'),
    'update-executed': updateNeedsDownloaded,
    'factory-reset-executed': (s, e) =>
      go(stepTo(s, 'flashing', e.at, { operation: 'factory-reset', attemptId: e.attemptId, result: UpdateResult.Initial, reason: '', errorCode: '', progress: 0 }), {
        type: 'flash-factory-image',
        attemptId: e.attemptId,
      }),
    booted: (s, e) => beforeActivation(s, e.boot),
  },
  downloading: {
    ...ANY_STATE,
    ...unsavedMove,
    'uri-written': uriOnlyInIdle,
    'uri-cleared': abandon(UpdateResult.Initial, ''),
    'cancel-executed': abandon(UpdateResult.Cancelled, 'the download was cancelled'),
    'update-executed': updateNeedsDownloaded,
    'factory-reset-executed': resetNeedsIdle,
    'download-progressed': (s, e) => (ofAttempt(s, e) ? go({ ...s, progress: Math.max(0, Math.min(100, Math.floor(e.percent))) }) : stale('progress of another attempt')(s)),
    'download-checkpointed': (s, e) => (ofAttempt(s, e) ? go({ ...s, resume: e.resume }) : stale('checkpoint of another attempt')(s)),
    // Object 5 has no resource for "why is this download not moving": the reason resource says it meanwhile
    'download-retried': (s, e) => (ofAttempt(s, e) ? go({ ...s, reason: `retrying: ${e.reason}` }) : stale('a retry of another attempt')(s)),
    'download-succeeded': (s, e) =>
      ofAttempt(s, e)
        ? go(enter(s, 'downloaded', e.at, { pkgName: e.pkg.name, pkgVersion: e.pkg.version, pkgFloor: e.pkg.securityFloor ?? '', progress: 100, resume: null, reason: '' }))
        : stale('a finished download of another attempt')(s),
    'download-failed': (s, e) => (ofAttempt(s, e) ? go(fail(s, e.at, e.code, e.reason)) : stale('a failed download of another attempt')(s)),
    // the agent restarted mid-download: resume (the downloader re-verifies what is already in the slot) or start over
    booted: (s, e) => beforeActivation(s, e.boot, { type: 'start-download', uri: s.uri, attemptId: s.attemptId, resume: s.resume, allowDowngrade: s.allowDowngrade }),
  },
  downloaded: {
    ...ANY_STATE,
    ...unsavedMove,
    'uri-written': uriOnlyInIdle,
    'uri-cleared': abandon(UpdateResult.Initial, ''),
    'cancel-executed': abandon(UpdateResult.Cancelled, 'the update was cancelled before it was installed'),
    'update-executed': (s, e) => go(stepTo(s, 'activating', e.at, { result: UpdateResult.Initial, reason: '', errorCode: '' }), { type: 'activate-slot' }),
    'factory-reset-executed': resetNeedsIdle,
    booted: (s, e) => beforeActivation(s, e.boot),
  },
  'updating:flashing': {
    ...unsavedMove,
    ...WHILE_UPDATING,
    'image-flashed': (s, e) => (ofAttempt(s, e) ? go(stepTo(s, 'activating', e.at, { pkgName: 'factory', pkgVersion: e.version }), { type: 'activate-slot' }) : stale('a flash of another attempt')(s)),
    'flash-failed': (s, e) => (ofAttempt(s, e) ? go(fail(s, e.at, e.code, `factory reset failed: ${e.reason}`)) : stale('a flash of another attempt')(s)),
    booted: (s, e) => beforeActivation(s, e.boot, { type: 'flash-factory-image', attemptId: s.attemptId }),
  },
  'updating:activating': {
    ...unsavedMove,
    ...WHILE_UPDATING,
    'slot-activated': (s, e) =>
      go(stepTo(s, 'rebooting', e.at, { target: e.target, from: e.from, fromVersion: e.fromVersion }), { type: 'reboot', reason: `trial boot of slot ${e.target} (${s.pkgName} ${s.pkgVersion})` }),
    // a failed activation may still have written part of the environment: disarm, so no later boot tries the slot
    'activation-failed': (s, e) => go(fail(s, e.at, e.code, e.reason), { type: 'revert-trial' }),
    // a power cut while activating, before or after the environment write: the bootloader says which
    booted: (s, e) => {
      const found = findBoot(s, e.boot);
      if (found.kind === 'trial-of-target') return go(stepTo(s, 'verifying', e.at, { target: found.target, from: otherSlot(found.target), verifyStarts: 1 }), { type: 'check-health' });
      if (found.kind === 'target-armed')
        return go(stepTo(s, 'rebooting', e.at, { target: found.target, from: e.boot.booted, fromVersion: e.boot.firmwareVersion }), { type: 'reboot', reason: `trial boot of slot ${found.target} (${s.pkgName} ${s.pkgVersion})` });
      // nothing armed (the write never happened, or the bootloader already fell back): activation is idempotent
      return go(s, { type: 'activate-slot' });
    },
  },
  'updating:rebooting': {
    ...unsavedMove,
    ...WHILE_UPDATING,
    booted: (s, e) =>
      afterBoot(s, e.boot, e.at, (trial) =>
        trial
          ? go(stepTo(s, 'verifying', e.at, { verifyStarts: 1 }), { type: 'check-health' })
          : // already committed (the commit landed but the state save did not): it is a success
            succeed(s, e.at),
      ),
  },
  'updating:verifying': {
    ...unsavedMove,
    ...WHILE_UPDATING,
    'health-passed': (s, e) => go(stepTo(s, 'committing', e.at), { type: 'commit' }),
    'health-failed': (s, e) =>
      go(stepTo(s, 'reverting', e.at, { reason: `health check failed: ${e.reason}`, errorCode: 'health-check-failed' }), { type: 'revert-trial' }, { type: 'reboot', reason: `health check failed: ${e.reason}` }),
    booted: (s, e) =>
      afterBoot(s, e.boot, e.at, (trial) => {
        if (!trial) return succeed(s, e.at);
        const starts = s.verifyStarts + 1;
        if (starts > MAX_VERIFY_STARTS) {
          const reason = `health check failed: the agent restarted ${starts - 1} times during the health check`;
          return go(stepTo(s, 'reverting', e.at, { reason, errorCode: 'health-check-failed', verifyStarts: starts }), { type: 'revert-trial' }, { type: 'reboot', reason });
        }
        return go({ ...s, verifyStarts: starts }, { type: 'check-health' });
      }),
  },
  'updating:committing': {
    ...unsavedMove,
    ...WHILE_UPDATING,
    committed: (s, e) => succeed(s, e.at),
    'commit-failed': (s, e) =>
      go(stepTo(s, 'reverting', e.at, { reason: `could not commit the new slot: ${e.reason}`, errorCode: 'commit-failed' }), { type: 'revert-trial' }, { type: 'reboot', reason: 'commit failed' }),
    booted: (s, e) => afterBoot(s, e.boot, e.at, (trial) => (trial ? go(s, { type: 'commit' }) : succeed(s, e.at))),
  },
  'updating:reverting': {
    ...unsavedMove,
    ...WHILE_UPDATING,
    // still on the rejected slot: revert again (idempotent) and reboot; the boot counter is the safety net
    booted: (s, e) =>
      afterBoot(s, e.boot, e.at, (trial) =>
        trial ? go(s, { type: 'revert-trial' }, { type: 'reboot', reason: s.reason }) : go(fail(s, e.at, s.errorCode || 'health-check-failed', `${s.reason}; the slot was committed anyway`)),
      ),
  },
  // a factory reset's last step: configuration and settings back to the shipped defaults (idempotent), then Idle + 0
  'updating:resetting': {
    ...unsavedMove,
    ...WHILE_UPDATING,
    'agent-reset': (s, e) => go(finish(s, e.at, UpdateResult.Initial, '', '')),
    booted: (s, e) => beforeActivation(s, e.boot, { type: 'reset-agent' }),
  },
};

/** The pure transition function. Unknown pairs are rejected, never thrown. */
export function transition(state: FirmwareState, event: FirmwareEvent): Outcome {
  const row = MOVES[stateKey(state)];
  const handler = row[event.type] as Handler | undefined;
  if (!handler) return reject(state, 'ignored', `${event.type} does not apply in ${stateKey(state)}`);
  return handler(state, event);
}
