// What the dashboard shows of a device, read from the values of Object 3 (Device) and Object 5 (Firmware Update)
// the device reports. Pure: no IO. Every string is device-controlled: cut to a bound, never interpreted.

import { Dev, Fw, FwState, type FwStateValue, type UpdateResultValue } from '../../protocol/lwm2m.js';
import type { JsonValue } from '../../protocol/messages.js';

/** a short device string (version, type, model) is cut to this many characters */
export const MAX_SHORT = 128;
/** a reason (Update Result reason, a fault's reason) is cut to this many characters */
export const MAX_REASON = 512;
/** at most this many faults are kept per device (LwM2M Error Code is multi-instance) */
export const MAX_FAULTS = 8;

export interface DeviceFault {
  /** Object 3 Error Code (16 = the agent cannot save its state) */
  code: number;
  reason: string;
}

/** Object 3 as the dashboard shows it. */
export interface DeviceObjectView {
  firmwareVersion: string;
  deviceType: string;
  model: string;
  /** active faults; empty when Error Code is 0 */
  faults: DeviceFault[];
}

/** Object 5 as the dashboard shows it. */
export interface FirmwareObjectView {
  state: FwStateValue;
  updateResult: UpdateResultValue;
  /** the readable reason of the last Update Result ("" when none) */
  reason: string;
  /** the stable error code behind it ("" when none) */
  code: string;
  /** download percent 0..100 */
  progress: number;
  /** the package version of the current or last attempt */
  pkgVersion: string;
}

const isObj = (v: unknown): v is Record<string, JsonValue> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The instance's resources of a read or notification of "/N" ({"0": {...}}) or "/N/0" ({...}). */
export function instanceOf(value: JsonValue | undefined): Record<string, JsonValue> | undefined {
  if (!isObj(value)) return undefined;
  const inner = value['0'];
  // an object read nests instance 0; an instance read is flat (its keys are resource ids, "0" is a resource there)
  return isObj(inner) ? inner : value;
}

function text(v: JsonValue | undefined, max: number): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
  // a copy, not a slice: a V8 slice would keep the whole device-sent string alive
  return s.length <= max ? s : Buffer.from(s.slice(0, max), 'utf8').toString('utf8');
}

function int(v: JsonValue | undefined, min: number, max: number): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : undefined;
}

const list = (v: JsonValue | undefined): JsonValue[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

/** The faults of Error Code (/3/0/11) and their reasons (/3/0/26241), in the same order; 0 means none. */
function faults(codes: JsonValue | undefined, reasons: JsonValue | undefined): DeviceFault[] {
  const why = list(reasons);
  const out: DeviceFault[] = [];
  list(codes).forEach((c, i) => {
    const code = int(c, 1, 65535);
    if (code !== undefined && out.length < MAX_FAULTS) out.push({ code, reason: text(why[i], MAX_REASON) });
  });
  return out;
}

/** Object 3's view, or undefined when `value` is not an Object 3 instance. */
export function deviceObjectView(value: JsonValue | undefined): DeviceObjectView | undefined {
  const o = instanceOf(value);
  if (!o) return undefined;
  return {
    firmwareVersion: text(o[String(Dev.FirmwareVersion)], MAX_SHORT),
    deviceType: text(o[String(Dev.DeviceType)], MAX_SHORT),
    model: text(o[String(Dev.ModelNumber)], MAX_SHORT),
    faults: faults(o[String(Dev.ErrorCode)], o[String(Dev.ErrorReason)]),
  };
}

/** Object 5's view, or undefined when `value` is not an Object 5 instance with a valid State. */
export function firmwareObjectView(value: JsonValue | undefined): FirmwareObjectView | undefined {
  const o = instanceOf(value);
  const state = int(o?.[String(Fw.State)], FwState.Idle, FwState.Updating) as FwStateValue | undefined;
  if (!o || state === undefined) return undefined;
  return {
    state,
    updateResult: (int(o[String(Fw.UpdateResult)], 0, 10) ?? 0) as UpdateResultValue,
    reason: text(o[String(Fw.ResultReason)], MAX_REASON),
    code: text(o[String(Fw.ResultCode)], MAX_SHORT),
    progress: int(o[String(Fw.Progress)], 0, 100) ?? 0,
    pkgVersion: text(o[String(Fw.PkgVersion)], MAX_SHORT),
  };
}
