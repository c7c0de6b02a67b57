// Validation helpers for `platform.options`: each names the offending key in a PlatformConfigError (the agent exits
// 78 on it). Synchronous and pure: a backend's factory checks its options before anything touches the board.

import { PlatformConfigError } from './config-error.js';
import { slotSpecProblem } from './slots/slot-spec.js';
import type { SlotName } from '../agent/core/ports.js';

export const K = 'platform.options';
export type Obj = Record<string, unknown>;

export function object(v: unknown, key: string, known: readonly string[]): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PlatformConfigError(key, 'must be an object');
  for (const k of Object.keys(v)) if (!known.includes(k)) throw new PlatformConfigError(`${key}.${k}`, `unknown key (known here: ${known.join(', ')})`);
  return v as Obj;
}

export function absPath(o: Obj, k: string, key: string, fallback?: string): string {
  const v = o[k] ?? fallback;
  if (v === undefined) throw new PlatformConfigError(`${key}.${k}`, 'is required');
  if (typeof v !== 'string' || !v.startsWith('/')) throw new PlatformConfigError(`${key}.${k}`, `must be an absolute path (got ${JSON.stringify(v)})`);
  return v;
}

export function str(o: Obj, k: string, key: string, fallback: string): string {
  const v = o[k] ?? fallback;
  if (typeof v !== 'string' || v === '') throw new PlatformConfigError(`${key}.${k}`, 'must be a non-empty string');
  return v;
}

export function oneOf<T extends string>(o: Obj, k: string, key: string, values: readonly T[], fallback: T): T {
  const v = o[k] ?? fallback;
  if (!values.includes(v as T)) throw new PlatformConfigError(`${key}.${k}`, `must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}`);
  return v as T;
}

export function int(o: Obj, k: string, key: string, min: number, max: number, hint = ''): number | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new PlatformConfigError(`${key}.${k}`, `must be an integer from ${min} to ${max}${hint}`);
  return v;
}

export function bool(o: Obj, k: string, key: string, fallback: boolean): boolean {
  const v = o[k] ?? fallback;
  if (typeof v !== 'boolean') throw new PlatformConfigError(`${key}.${k}`, 'must be true or false');
  return v;
}

export function argv(o: Obj, k: string, key: string, fallback: string[]): string[] {
  const v = o[k] ?? fallback;
  if (!Array.isArray(v) || v.length === 0 || !v.every((a) => typeof a === 'string' && a !== ''))
    throw new PlatformConfigError(`${key}.${k}`, 'must be a non-empty array of strings (argv, no shell), e.g. ["systemctl", "reboot"]');
  return v as string[];
}

/**
 * `slots: { A, B }`: device paths or PARTLABEL=/PARTUUID= specifications, or for a slot of several partitions written
 * back to back (a Pi's boot partition then its root filesystem) an array of them (at most 4); no device twice.
 */
export function slotSpecs(o: Obj, key: string, example: string, fallback?: Record<SlotName, string | string[]>): Record<SlotName, string | string[]> {
  if (o['slots'] === undefined && fallback) return fallback;
  if (o['slots'] === undefined) throw new PlatformConfigError(`${key}.slots`, `is required, e.g. ${example}`);
  const s = object(o['slots'], `${key}.slots`, ['A', 'B']);
  const out = {} as Record<SlotName, string | string[]>;
  const seen = new Set<string>();
  for (const slot of ['A', 'B'] as const) {
    const v = s[slot];
    if (v === undefined) throw new PlatformConfigError(`${key}.slots.${slot}`, 'is required');
    const specs = Array.isArray(v) ? (v as unknown[]) : [v];
    if (specs.length === 0 || specs.length > 4) throw new PlatformConfigError(`${key}.slots.${slot}`, 'must be a device, or a list of 1 to 4 devices written back to back');
    for (const [i, spec] of specs.entries()) {
      const where = Array.isArray(v) ? `${key}.slots.${slot}[${i}]` : `${key}.slots.${slot}`;
      const problem = slotSpecProblem(spec);
      if (problem) throw new PlatformConfigError(where, problem);
      if (seen.has(spec as string)) throw new PlatformConfigError(`${key}.slots`, `${spec as string} is named twice: A and B must be different devices`);
      seen.add(spec as string);
    }
    out[slot] = Array.isArray(v) ? (v as string[]) : (v as string);
  }
  return out;
}
