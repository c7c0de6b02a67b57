// GET /v1/inventory: search, filter and page the device inventory on the hub (a page of 10,000 devices is never
// sent to a browser). Pure: no IO. Pages are keyset pages in device id order: the cursor is the last id shown.

import { FW_STATE_TEXT, UPDATE_RESULT_TEXT, type FwStateValue, type UpdateResultValue } from '../../protocol/lwm2m.js';
import type { DeviceFault } from './device-values.js';
import type { DeviceInfo } from './device-inventory.js';

export const INVENTORY_PARAMS = ['q', 'online', 'type', 'state', 'result', 'fault', 'size', 'cursor'] as const;
export const DEFAULT_INVENTORY_PAGE = 100;
export const MAX_INVENTORY_PAGE = 1000;

export interface DeviceQuery {
  /** a substring of the device id, firmware version, device type or model (case-insensitive) */
  q?: string;
  online?: 'online' | 'offline' | 'unknown';
  deviceType?: string;
  state?: FwStateValue;
  result?: UpdateResultValue;
  /** only devices with (true) or without (false) an active fault */
  fault?: boolean;
  size: number;
  /** the last device id of the previous page */
  after?: string;
}

/** A device as the API answers it: times as ISO 8601, Object 5 with its readable names. */
export interface DeviceRow {
  deviceId: string;
  online: boolean | null;
  agentVersion: string;
  registeredAt: string | null;
  lastSeen: string;
  firmwareVersion: string;
  deviceType: string;
  model: string;
  faults: DeviceFault[];
  /** null until the hub has read Object 5 */
  firmware: { state: FwStateValue; stateText: string; updateResult: UpdateResultValue; resultText: string; reason: string; code: string; progress: number; pkgVersion: string } | null;
  problem: string;
}

export interface DevicePage {
  devices: DeviceRow[];
  /** devices matching the filter, on every page */
  total: number;
  /** pass as cursor for the next page; absent on the last */
  nextPage?: string;
  /** over the whole inventory (not the filter): the device types and how many of each, presence and fault counts */
  facets: { deviceTypes: { deviceType: string; devices: number }[]; online: number; offline: number; unknown: number; faulty: number; devices: number };
}

/** A bad parameter: answered 400 invalid-request, naming it. */
export class DeviceQueryError extends Error {
  constructor(
    readonly param: string,
    reason: string,
  ) {
    super(`${param}: ${reason}`);
    this.name = 'DeviceQueryError';
  }
}

function intParam(name: string, v: string, min: number, max: number): number {
  if (!/^\d{1,7}$/.test(v) || Number(v) < min || Number(v) > max) throw new DeviceQueryError(name, `must be an integer ${min}..${max} (got '${v.slice(0, 40)}')`);
  return Number(v);
}

/** The query the parameters describe. Throws DeviceQueryError for an unknown parameter or a bad value. */
export function parseDeviceQuery(params: URLSearchParams): DeviceQuery {
  for (const name of new Set(params.keys())) {
    if (!(INVENTORY_PARAMS as readonly string[]).includes(name)) throw new DeviceQueryError(name, `unknown parameter (use ${INVENTORY_PARAMS.join(', ')})`);
  }
  const get = (name: string): string | undefined => {
    const v = params.get(name);
    return v === null || v === '' ? undefined : v;
  };
  const out: DeviceQuery = { size: DEFAULT_INVENTORY_PAGE };
  const q = get('q');
  if (q !== undefined) out.q = q.slice(0, 200).toLowerCase();
  const online = get('online');
  if (online !== undefined) {
    if (online !== 'online' && online !== 'offline' && online !== 'unknown') throw new DeviceQueryError('online', `takes online, offline or unknown (got '${online.slice(0, 40)}')`);
    out.online = online;
  }
  const type = get('type');
  if (type !== undefined) out.deviceType = type.slice(0, 200);
  const state = get('state');
  if (state !== undefined) out.state = intParam('state', state, 0, 3) as FwStateValue;
  const result = get('result');
  if (result !== undefined) out.result = intParam('result', result, 0, 10) as UpdateResultValue;
  const fault = get('fault');
  if (fault !== undefined) {
    if (fault !== 'yes' && fault !== 'no') throw new DeviceQueryError('fault', `takes yes or no (got '${fault.slice(0, 40)}')`);
    out.fault = fault === 'yes';
  }
  const size = get('size');
  if (size !== undefined) out.size = intParam('size', size, 1, MAX_INVENTORY_PAGE);
  const cursor = get('cursor');
  if (cursor !== undefined) out.after = cursor.slice(0, 256);
  return out;
}

function matches(d: DeviceInfo, q: DeviceQuery): boolean {
  if (q.online !== undefined && (q.online === 'online' ? d.online !== true : q.online === 'offline' ? d.online !== false : d.online !== null)) return false;
  if (q.deviceType !== undefined && d.deviceType !== q.deviceType) return false;
  if (q.state !== undefined && d.firmware?.state !== q.state) return false;
  if (q.result !== undefined && d.firmware?.updateResult !== q.result) return false;
  if (q.fault !== undefined && d.faults.length > 0 !== q.fault) return false;
  if (q.q !== undefined) {
    const hay = `${d.deviceId}\n${d.firmwareVersion}\n${d.deviceType}\n${d.model}`.toLowerCase();
    if (!hay.includes(q.q)) return false;
  }
  return true;
}

const iso = (ms: number | null): string | null => (ms === null || ms === 0 ? null : new Date(ms).toISOString());

export function toRow(d: DeviceInfo): DeviceRow {
  const f = d.firmware;
  return {
    deviceId: d.deviceId,
    online: d.online,
    agentVersion: d.agentVersion,
    registeredAt: iso(d.registeredAt),
    lastSeen: iso(d.lastSeen) ?? '',
    firmwareVersion: d.firmwareVersion,
    deviceType: d.deviceType,
    model: d.model,
    faults: d.faults.map((x) => ({ ...x })),
    firmware: f ? { ...f, stateText: FW_STATE_TEXT[f.state], resultText: UPDATE_RESULT_TEXT[f.updateResult] } : null,
    problem: d.problem,
  };
}

/**
 * One page of the devices matching `q`, in device id order. `sortedIds` is every device id in code-unit order
 * (the caller caches it while the membership does not change); `get` looks a device up.
 */
export function queryDevices(q: DeviceQuery, sortedIds: readonly string[], get: (id: string) => DeviceInfo | undefined): DevicePage {
  const facets: DevicePage['facets'] = { deviceTypes: [], online: 0, offline: 0, unknown: 0, faulty: 0, devices: 0 };
  // a Map, not an object: a device type is the device's text ("__proto__" included)
  const types = new Map<string, number>();
  const rows: DeviceRow[] = [];
  let total = 0;
  let more = false;
  for (const id of sortedIds) {
    const d = get(id);
    if (!d) continue;
    facets.devices++;
    if (d.deviceType !== '') types.set(d.deviceType, (types.get(d.deviceType) ?? 0) + 1);
    if (d.online === true) facets.online++;
    else if (d.online === false) facets.offline++;
    else facets.unknown++;
    if (d.faults.length > 0) facets.faulty++;
    if (!matches(d, q)) continue;
    total++;
    if (q.after !== undefined && id <= q.after) continue;
    if (rows.length < q.size) rows.push(toRow(d));
    else more = true;
  }
  facets.deviceTypes = [...types].sort((a, b) => (a[0] < b[0] ? -1 : 1)).slice(0, 200).map(([deviceType, devices]) => ({ deviceType, devices }));
  const last = rows[rows.length - 1];
  return more && last ? { devices: rows, total, nextPage: last.deviceId, facets } : { devices: rows, total, facets };
}
