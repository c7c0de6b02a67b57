// A small declarative schema for the agent's JSON configuration: defaults, types, ranges, secrets.
// Pure: validation only. Errors name the key ("download.retries must be an integer from 0 to 100").

export type FieldSpec =
  | { kind: 'string'; default: string; pattern?: RegExp; hint?: string; secret?: boolean; required?: boolean }
  | { kind: 'int'; default: number; min: number; max: number }
  | { kind: 'number'; default: number; min: number; max: number }
  | { kind: 'bool'; default: boolean }
  | { kind: 'enum'; default: string | number; values: readonly (string | number)[] }
  | { kind: 'strings'; default: readonly string[]; pattern?: RegExp; hint?: string; values?: readonly string[] }
  | { kind: 'object'; default: Record<string, unknown> };

export interface FieldDoc {
  spec: FieldSpec;
  doc: string;
  /** may the hub change it through the configuration object (issue: configuration update jobs) */
  remote?: boolean;
  /** a narrower range for remote changes than for the file: values that would cut the device off for long */
  remoteRange?: { min?: number; max?: number };
}

export type Schema = { [key: string]: FieldDoc | Schema };

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(key ? `${key}: ${message}` : message);
    this.name = 'ConfigError';
  }
}

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isField = (v: FieldDoc | Schema): v is FieldDoc => 'spec' in v && isPlain(v.spec) && typeof (v as FieldDoc).doc === 'string';

/** Walks the schema: every leaf with its dotted key. */
export function fields(schema: Schema, prefix = ''): [string, FieldDoc][] {
  const out: [string, FieldDoc][] = [];
  for (const [k, v] of Object.entries(schema)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isField(v)) out.push([key, v]);
    else out.push(...fields(v, key));
  }
  return out;
}

/** Checks one value against its spec; returns the value to store or throws ConfigError. */
export function checkValue(key: string, spec: FieldSpec, v: unknown): unknown {
  switch (spec.kind) {
    case 'string':
      if (typeof v !== 'string') throw new ConfigError(key, 'must be a string');
      if (spec.required && v === '') throw new ConfigError(key, 'is required');
      if (spec.pattern && v !== '' && !spec.pattern.test(v)) throw new ConfigError(key, `must be ${spec.hint ?? `like ${spec.pattern}`} (got "${spec.secret ? '***' : v}")`);
      return v;
    case 'int':
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v) || (spec.kind === 'int' && !Number.isInteger(v)) || v < spec.min || v > spec.max)
        throw new ConfigError(key, `must be ${spec.kind === 'int' ? 'an integer' : 'a number'} from ${spec.min} to ${spec.max}`);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') throw new ConfigError(key, 'must be true or false');
      return v;
    case 'enum':
      if (!spec.values.includes(v as string | number)) throw new ConfigError(key, `must be one of ${spec.values.map((x) => JSON.stringify(x)).join(', ')}`);
      return v;
    case 'strings': {
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ConfigError(key, 'must be an array of strings');
      for (const x of v as string[]) {
        if (spec.values && !spec.values.includes(x)) throw new ConfigError(key, `"${x}" is not one of ${spec.values.join(', ')}`);
        if (spec.pattern && !spec.pattern.test(x)) throw new ConfigError(key, `"${x}" must be ${spec.hint ?? `like ${spec.pattern}`}`);
      }
      return [...(v as string[])];
    }
    case 'object':
      if (!isPlain(v)) throw new ConfigError(key, 'must be an object');
      return v;
  }
}

/** Applies `input` over the schema's defaults. Unknown keys and bad values throw ConfigError naming the key. */
export function applySchema(schema: Schema, input: unknown, prefix = ''): Record<string, unknown> {
  if (input !== undefined && !isPlain(input)) throw new ConfigError(prefix, 'must be an object');
  const given = (input ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(given)) {
    if (!(k in schema)) {
      const known = Object.keys(schema).join(', ');
      throw new ConfigError(prefix ? `${prefix}.${k}` : k, `unknown key (known here: ${known})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, node] of Object.entries(schema)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const v = given[k];
    if (isField(node)) {
      if (v === undefined) {
        if (node.spec.kind === 'string' && node.spec.required) throw new ConfigError(key, 'is required');
        out[k] = Array.isArray(node.spec.default) ? [...node.spec.default] : node.spec.default;
      } else out[k] = checkValue(key, node.spec, v);
    } else out[k] = applySchema(node, v, key);
  }
  return out;
}

/** Reads a dotted key from a nested object. */
export function getPath(obj: Record<string, unknown>, key: string): unknown {
  return key.split('.').reduce<unknown>((o, k) => (isPlain(o) ? o[k] : undefined), obj);
}

/** Returns a copy of `obj` with the dotted key set. */
export function setPath<T extends Record<string, unknown>>(obj: T, key: string, value: unknown): T {
  const [head, ...rest] = key.split('.');
  if (head === undefined) return obj;
  const copy: Record<string, unknown> = { ...obj };
  copy[head] = rest.length === 0 ? value : setPath(isPlain(copy[head]) ? (copy[head] as Record<string, unknown>) : {}, rest.join('.'), value);
  return copy as T;
}

export function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
