// LwM2M values as a person reads them: resource names instead of numbers, and the meaning of coded values
// ("State: Downloading (1)", "Update Result: 8 firmware update failed"). For `fota device … observe|read` on a
// terminal; scripts get JSON with --json. Names come from protocol/ (the one place the numbers live).

import { CONFIG_REVISION, configKeyOf } from '../protocol/config-object.js';
import { Dev, Fw, FW_STATE_TEXT, ObjectId, UPDATE_RESULT_TEXT, type FwStateValue, type UpdateResultValue } from '../protocol/lwm2m.js';
import type { JsonValue } from '../protocol/messages.js';
import { parsePath } from '../protocol/paths.js';

/** "PkgVersion" → "Pkg Version", "UpdateResult" → "Update Result" */
const spaced = (name: string) => name.replace(/([a-z])([A-Z])/g, '$1 $2');

const NAMES: Record<number, Record<number, string>> = {
  [ObjectId.FirmwareUpdate]: Object.fromEntries(Object.entries(Fw).map(([k, v]) => [v, spaced(k)])),
  [ObjectId.Device]: Object.fromEntries(Object.entries(Dev).map(([k, v]) => [v, spaced(k)])),
};

export function resourceName(object: number, resource: number): string {
  if (object === ObjectId.AgentConfig) return resource === CONFIG_REVISION ? 'Revision' : (configKeyOf(resource) ?? `Resource ${resource}`);
  return NAMES[object]?.[resource] ?? `Resource ${resource}`;
}

function valueText(object: number, resource: number, v: JsonValue): string {
  if (object === ObjectId.FirmwareUpdate && resource === Fw.State && typeof v === 'number') return `${FW_STATE_TEXT[v as FwStateValue] ?? '?'} (${v})`;
  if (object === ObjectId.FirmwareUpdate && resource === Fw.UpdateResult && typeof v === 'number') return `${v} ${UPDATE_RESULT_TEXT[v as UpdateResultValue] ?? ''}`.trim();
  if (object === ObjectId.FirmwareUpdate && resource === Fw.Progress && typeof v === 'number') return `${v}%`;
  if (object === ObjectId.FirmwareUpdate && resource === Fw.LastStateChangeTime && typeof v === 'number' && v > 0) return `${new Date(v * 1000).toISOString()} (${v})`;
  // LwM2M "Memory Free/Total" are storage, in kB of 1000 bytes (the agent reports its state directory's filesystem)
  if (object === ObjectId.Device && (resource === Dev.MemoryFree || resource === Dev.MemoryTotal) && typeof v === 'number') return `${v} kB`;
  if (typeof v === 'string') return v === '' ? '""' : v;
  return JSON.stringify(v);
}

/** Lines "Name: value" for a value read or notified at `path` (a resource, an instance or an object). */
export function namedLines(path: string, value: JsonValue | undefined): string[] {
  const p = parsePath(path);
  if (!p || value === undefined) return [JSON.stringify(value ?? null)];
  if (p.resource !== undefined) return [`${resourceName(p.object, p.resource)}: ${valueText(p.object, p.resource, value)}`];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [JSON.stringify(value)];
  const instance = p.instance !== undefined ? value : ((value as Record<string, JsonValue>)['0'] ?? value);
  if (typeof instance !== 'object' || instance === null || Array.isArray(instance)) return [JSON.stringify(value)];
  return Object.entries(instance)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([k, v]) => `${resourceName(p.object, Number(k))}: ${valueText(p.object, Number(k), v)}`);
}
