// The object tree the agent serves: routes a request to an object and checks the LwM2M rules that are the same
// for every object (unknown path → 4.04, operation not allowed → 4.05). Pure.

import type { CodeValue } from '../../protocol/lwm2m.js';
import type { JsonValue } from '../../protocol/messages.js';
import { formatPath, type LwPath } from '../../protocol/paths.js';
import { respond, type Action, type LwObject } from './objects/lw-object.js';

export type ReadResult = { code: CodeValue; value?: JsonValue; reason?: string };

function stripVolatile(obj: LwObject, values: Record<number, JsonValue>): Record<number, JsonValue> {
  if (obj.volatile.size === 0) return values;
  const out: Record<number, JsonValue> = {};
  for (const [k, v] of Object.entries(values)) if (!obj.volatile.has(Number(k))) out[Number(k)] = v;
  return out;
}

export class Model {
  private readonly objects = new Map<number, LwObject>();

  constructor(objects: readonly LwObject[]) {
    for (const o of objects) this.objects.set(o.id, o);
  }

  /** Object instances served, for the registration ("/3/0", "/5/0"). */
  instancePaths(): string[] {
    return [...this.objects.keys()].sort((a, b) => a - b).map((id) => `/${id}/0`);
  }

  private locate(path: LwPath): { obj: LwObject } | { error: ReadResult } {
    const obj = this.objects.get(path.object);
    if (!obj) return { error: { code: '4.04', reason: `object ${path.object} is not served by this agent` } };
    if (path.instance !== undefined && path.instance !== 0) return { error: { code: '4.04', reason: `${formatPath({ object: path.object, instance: path.instance })} does not exist (single instance 0)` } };
    if (path.resource !== undefined && !(path.resource in obj.resources)) return { error: { code: '4.04', reason: `${formatPath(path)} is not a resource of object ${path.object}` } };
    return { obj };
  }

  /** Read (and the first answer of Observe). `stable` leaves out resources that change by themselves. */
  read(path: LwPath, stable = false): ReadResult {
    const found = this.locate(path);
    if ('error' in found) return found.error;
    const { obj } = found;
    const all = obj.read();
    const values = stable ? stripVolatile(obj, all) : all;
    if (path.resource !== undefined) {
      const ops = obj.resources[path.resource];
      if (ops === 'E' || ops === 'W') return { code: '4.05', reason: `${formatPath(path)} cannot be read` };
      const v = values[path.resource];
      if (v === undefined && !stable) return { code: '4.04', reason: `${formatPath(path)} has no value on this device` };
      return { code: '2.05', value: v ?? null };
    }
    const inst: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(values)) inst[k] = v;
    return { code: '2.05', value: path.instance !== undefined ? inst : { '0': inst } };
  }

  write(path: LwPath, value: JsonValue): Action {
    const found = this.locate(path);
    if ('error' in found) return respond(found.error.code, found.error.reason);
    if (path.resource === undefined) return this.writeInstance(found.obj, path, value);
    const ops = found.obj.resources[path.resource];
    if (ops !== 'W' && ops !== 'RW') return respond('4.05', `${formatPath(path)} is not writable`);
    return found.obj.write(path.resource, value);
  }

  /** LwM2M partial update of an instance: { "<resource>": value, … }, all writable, applied as one change. */
  private writeInstance(obj: LwObject, path: LwPath, value: JsonValue): Action {
    if (path.instance === undefined || !obj.writeInstance) return respond('4.05', `${formatPath(path)} cannot be written as a whole; write one resource (/object/instance/resource)`);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return respond('4.00', 'an instance write takes an object of resource id → value');
    const values: Record<number, JsonValue> = {};
    for (const [k, v] of Object.entries(value)) {
      const res = Number(k);
      const ops = obj.resources[res];
      if (!/^\d+$/.test(k) || ops === undefined) return respond('4.04', `${formatPath(path)}/${k} is not a resource of object ${path.object}`);
      if (ops !== 'W' && ops !== 'RW') return respond('4.05', `${formatPath(path)}/${k} is not writable`);
      values[res] = v;
    }
    return obj.writeInstance(values);
  }

  execute(path: LwPath, args: string | undefined): Action {
    const found = this.locate(path);
    if ('error' in found) return respond(found.error.code, found.error.reason);
    if (path.resource === undefined || found.obj.resources[path.resource] !== 'E') return respond('4.05', `${formatPath(path)} is not executable`);
    return found.obj.execute(path.resource, args);
  }
}
