// The document the agent persists between runs, and its validation on load. Pure.
// Saved through the Store port before any effect runs, so a power cut resumes from a named point.

import { UpdateResult, type UpdateResultValue } from '../../protocol/lwm2m.js';
import { ERROR_CODES, type ErrorCode } from './errors.js';
import { initialFirmwareState, STATE_KEYS, type FirmwareState, type Phase, type Step } from './firmware-machine.js';
import type { DeviceSettings } from './objects/device-object.js';
import type { ResumeToken, SlotName } from './ports.js';

export const DOCUMENT_VERSION = 1;

export interface AgentDocument {
  firmware: FirmwareState;
  settings: DeviceSettings;
}

export function initialDocument(): AgentDocument {
  return { firmware: initialFirmwareState(), settings: { timezone: '', utcOffset: '' } };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown, d = ''): string => (typeof v === 'string' ? v : d);
const num = (v: unknown, d = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);
const slot = (v: unknown): SlotName | null => (v === 'A' || v === 'B' ? v : null);

/**
 * Rebuilds a document from what was stored. A field that is missing or of the wrong type takes its initial
 * value; a state the machine does not know throws, so the caller can refuse to guess.
 */
export function restoreDocument(raw: unknown): AgentDocument {
  if (!isObj(raw) || !isObj(raw.firmware)) throw new Error('state document has no "firmware" section');
  const f = raw.firmware;
  const init = initialFirmwareState();
  const phase = str(f.phase) as Phase;
  const step = (f.step === null || f.step === undefined ? null : str(f.step)) as Step | null;
  const key = phase === 'updating' ? `updating:${step ?? ''}` : phase;
  if (!(STATE_KEYS as readonly string[]).includes(key)) throw new Error(`state document holds an unknown state "${key}"`);
  const result = num(f.result, 0);
  const resultOk = (Object.values(UpdateResult) as number[]).includes(result);
  const errorCode = str(f.errorCode);
  const firmware: FirmwareState = {
    ...init,
    phase,
    step: phase === 'updating' ? step : null,
    operation: f.operation === 'factory-reset' ? 'factory-reset' : 'update',
    result: (resultOk ? result : 0) as UpdateResultValue,
    reason: str(f.reason),
    errorCode: (ERROR_CODES as readonly string[]).includes(errorCode) ? (errorCode as ErrorCode) : '',
    uri: str(f.uri),
    pkgName: str(f.pkgName),
    pkgVersion: str(f.pkgVersion),
    progress: num(f.progress),
    changedAt: num(f.changedAt),
    attemptId: str(f.attemptId),
    resume: isObj(f.resume) ? (f.resume as ResumeToken) : null,
    target: slot(f.target),
    from: slot(f.from),
    fromVersion: str(f.fromVersion),
    verifyStarts: num(f.verifyStarts),
    allowDowngrade: f.allowDowngrade === true,
    pkgFloor: str(f.pkgFloor),
    floor: str(f.floor),
  };
  const s = isObj(raw.settings) ? raw.settings : {};
  return { firmware, settings: { timezone: str(s.timezone), utcOffset: str(s.utcOffset) } };
}
