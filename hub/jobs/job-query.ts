// The job query language: parses the JSON filter/sort/page form into a checked JobQuery and encodes page cursors;
// job-query-sql.ts turns a JobQuery into SQL. Pure: no IO. QUERY_PROPERTIES is the whitelist of names SQL may see.

import { JOB_STATUSES, JOB_TYPES, parseIsoTime } from './job-model.js';

export type PropertyKind = 'string' | 'enum' | 'number' | 'time' | 'boolean';
export type PropertyNamespace = 'default' | 'result';
/** What the query language knows of a property; `column` is the SQL whitelist. */
export interface PropertyDef {
  readonly column: string;
  readonly kind: PropertyKind;
  readonly namespace: PropertyNamespace;
  readonly nullable: boolean;
  readonly values?: readonly string[];
}

/** Every property a filter or sort may name, its SQL column (the whitelist), value kind and nullability. */
export const QUERY_PROPERTIES = {
  JobId: { column: 'job_id', kind: 'string', namespace: 'default', nullable: false },
  ParentJobId: { column: 'parent_job_id', kind: 'string', namespace: 'default', nullable: false },
  DeviceId: { column: 'device_id', kind: 'string', namespace: 'default', nullable: false },
  Type: { column: 'type', kind: 'enum', namespace: 'default', nullable: false, values: JOB_TYPES },
  Status: { column: 'status', kind: 'enum', namespace: 'default', nullable: false, values: JOB_STATUSES },
  StatusMessage: { column: 'status_message', kind: 'string', namespace: 'default', nullable: false },
  CreatedTime: { column: 'created_time', kind: 'time', namespace: 'default', nullable: false },
  StartTime: { column: 'start_time', kind: 'time', namespace: 'default', nullable: true },
  EndTime: { column: 'end_time', kind: 'time', namespace: 'default', nullable: true },
  Progress: { column: 'progress', kind: 'number', namespace: 'default', nullable: false },
  TimedOut: { column: 'timed_out', kind: 'boolean', namespace: 'default', nullable: false },
  UpdateResult: { column: 'update_result', kind: 'number', namespace: 'result', nullable: true },
  ErrorCode: { column: 'error_code', kind: 'string', namespace: 'result', nullable: true },
  FirmwareVersionBefore: { column: 'firmware_version_before', kind: 'string', namespace: 'result', nullable: true },
  FirmwareVersionAfter: { column: 'firmware_version_after', kind: 'string', namespace: 'result', nullable: true },
} as const satisfies Record<string, PropertyDef>;
export type PropertyName = keyof typeof QUERY_PROPERTIES;
const PROPS: Readonly<Record<string, PropertyDef>> = QUERY_PROPERTIES;
const PROPERTY_NAMES = Object.keys(QUERY_PROPERTIES) as PropertyName[];

export const OPERATORS = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte'] as const;
export type Operator = (typeof OPERATORS)[number];

export const MAX_DEPTH = 16;
export const MAX_NODES = 256;
export const MAX_PAGE_SIZE = 1000;
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_SORT_KEYS = 4;
export const MAX_STRING_VALUE = 1024;

/** A comparison value after parsing: times are ms since the epoch, booleans stay booleans. */
export type FilterValue = string | number | boolean | null;
export type JobFilter =
  | { type: 'comparison'; property: PropertyName; operator: Operator; value: FilterValue }
  | { type: 'and'; filters: JobFilter[] }
  | { type: 'or'; filters: JobFilter[] }
  | { type: 'not'; filter: JobFilter };
export interface SortKey {
  property: PropertyName;
  order: 'asc' | 'desc';
}
/** Position after the last row of a page: that row's sort-column values (SQL form) and its `seq`. */
export interface Cursor {
  keys: (string | number | null)[];
  seq: number;
}
/** A checked query. Build it with parseJobQuery; `sort` is never empty. */
export interface JobQuery {
  filter?: JobFilter;
  sort: SortKey[];
  page: { size: number; after?: Cursor };
}

/** An invalid query. `path` names the offending part ("filter.filters[1].comparisonOperator"). */
export class QueryError extends Error {
  readonly code = 'invalid-query';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'QueryError';
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => {
  const s = typeof v === 'string' ? `'${v}'` : (JSON.stringify(v) ?? String(v));
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

function onlyKeys(obj: Record<string, unknown>, path: string, allowed: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) throw new QueryError(`${path}.${k}`, `unknown key (allowed here: ${allowed.join(', ')})`);
  }
}

function lookupProperty(name: unknown, path: string): PropertyName {
  if (typeof name !== 'string') throw new QueryError(path, `must be a property name string (got ${show(name)})`);
  // Object.hasOwn: "constructor" or "__proto__" must not resolve through the prototype.
  if (!Object.hasOwn(PROPS, name)) throw new QueryError(path, `unknown property ${show(name)} (use ${PROPERTY_NAMES.join(', ')})`);
  return name as PropertyName;
}

function parseValue(prop: PropertyName, op: Operator, raw: unknown, path: string): FilterValue {
  const def = PROPS[prop] as PropertyDef;
  if (raw === null) {
    if (!def.nullable) throw new QueryError(path, `${prop} is never null`);
    if (op !== 'eq' && op !== 'ne') throw new QueryError(path, `null only works with eq and ne (got ${op})`);
    return null;
  }
  switch (def.kind) {
    case 'string':
      if (typeof raw !== 'string') throw new QueryError(path, `${prop} takes a string (got ${show(raw)})`);
      if (raw.length > MAX_STRING_VALUE) throw new QueryError(path, `string longer than ${MAX_STRING_VALUE} characters`);
      return raw;
    case 'enum':
      if (typeof raw !== 'string' || !(def.values ?? []).includes(raw)) throw new QueryError(path, `${prop} takes one of ${(def.values ?? []).join(', ')} (got ${show(raw)})`);
      return raw;
    case 'number':
      if (typeof raw !== 'number' || !Number.isFinite(raw)) throw new QueryError(path, `${prop} takes a number (got ${show(raw)})`);
      return raw;
    case 'boolean':
      if (typeof raw !== 'boolean') throw new QueryError(path, `${prop} takes true or false (got ${show(raw)})`);
      return raw;
    case 'time': {
      if (typeof raw === 'number' && Number.isSafeInteger(raw)) return raw;
      const ms = typeof raw === 'string' ? parseIsoTime(raw) : undefined;
      if (ms === undefined) throw new QueryError(path, `${prop} takes an ISO 8601 time with a zone such as 2024-06-01T12:00:00Z, or integer epoch milliseconds (got ${show(raw)})`);
      return ms;
    }
  }
}

function parseFilter(raw: unknown, path: string, depth: number, budget: { nodes: number }): JobFilter {
  if (depth > MAX_DEPTH) throw new QueryError(path, `filters nest deeper than ${MAX_DEPTH} levels`);
  if (++budget.nodes > MAX_NODES) throw new QueryError(path, `more than ${MAX_NODES} filter nodes in one query`);
  if (!isObj(raw)) throw new QueryError(path, `must be a filter object (got ${show(raw)})`);
  const type = raw['type'];
  if (type === 'and' || type === 'or') {
    onlyKeys(raw, path, ['type', 'filters']);
    const list = raw['filters'];
    if (!Array.isArray(list) || list.length === 0) throw new QueryError(`${path}.filters`, 'must be a non-empty array of filters');
    return { type, filters: list.map((f, i) => parseFilter(f, `${path}.filters[${i}]`, depth + 1, budget)) };
  }
  if (type === 'not') {
    onlyKeys(raw, path, ['type', 'filter']);
    return { type, filter: parseFilter(raw['filter'], `${path}.filter`, depth + 1, budget) };
  }
  if (type !== 'comparison') throw new QueryError(`${path}.type`, `unknown filter type ${show(type)} (use comparison, and, or, not)`);
  onlyKeys(raw, path, ['type', 'property', 'value', 'comparisonOperator']);
  const p = raw['property'];
  let property: PropertyName;
  if (typeof p === 'string') property = lookupProperty(p, `${path}.property`);
  else if (isObj(p)) {
    onlyKeys(p, `${path}.property`, ['name', 'type']);
    property = lookupProperty(p['name'], `${path}.property.name`);
    const want = (PROPS[property] as PropertyDef).namespace;
    // names are unique across the two types: a missing type is the name's own (docs/jobs.md)
    const ns = p['type'] ?? want;
    if (ns !== 'default' && ns !== 'result') throw new QueryError(`${path}.property.type`, `unknown property type ${show(ns)} (use default or result)`);
    if (ns !== want) throw new QueryError(`${path}.property.type`, `${property} is a '${want}' property, not '${ns}'`);
  } else throw new QueryError(`${path}.property`, 'must be { "name": ..., "type": "default" | "result" } or a property name');
  const op = raw['comparisonOperator'];
  if (typeof op !== 'string' || !(OPERATORS as readonly string[]).includes(op)) throw new QueryError(`${path}.comparisonOperator`, `unknown operator ${show(op)} (use ${OPERATORS.join(', ')})`);
  const kind = (PROPS[property] as PropertyDef).kind;
  if ((kind === 'enum' || kind === 'boolean') && op !== 'eq' && op !== 'ne') throw new QueryError(`${path}.comparisonOperator`, `'${op}' does not apply to ${property} (use eq or ne)`);
  if (!Object.hasOwn(raw, 'value')) throw new QueryError(`${path}.value`, 'missing');
  return { type: 'comparison', property, operator: op as Operator, value: parseValue(property, op as Operator, raw['value'], `${path}.value`) };
}

function parseSort(raw: unknown): SortKey[] {
  if (raw === undefined) return [{ property: 'CreatedTime', order: 'desc' }];
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) return [{ property: 'CreatedTime', order: 'desc' }];
  if (list.length > MAX_SORT_KEYS) throw new QueryError('sort', `at most ${MAX_SORT_KEYS} sort keys`);
  const keys = list.map((item, i): SortKey => {
    const path = Array.isArray(raw) ? `sort[${i}]` : 'sort';
    if (typeof item === 'string') {
      const desc = item.startsWith('-');
      return { property: lookupProperty(desc ? item.slice(1) : item, path), order: desc ? 'desc' : 'asc' };
    }
    if (!isObj(item)) throw new QueryError(path, `must be "Name", "-Name" or { "property": "Name", "order": "asc" | "desc" } (got ${show(item)})`);
    onlyKeys(item, path, ['property', 'order']);
    const order = item['order'] ?? 'asc';
    if (order !== 'asc' && order !== 'desc') throw new QueryError(`${path}.order`, `must be asc or desc (got ${show(order)})`);
    return { property: lookupProperty(item['property'], `${path}.property`), order };
  });
  keys.forEach((k, i) => {
    if (keys.findIndex((o) => o.property === k.property) !== i) throw new QueryError(`sort[${i}]`, `${k.property} is sorted on twice`);
  });
  return keys;
}

const sortSignature = (sort: readonly SortKey[]): string => sort.map((k) => `${k.property}:${k.order}`).join(',');

/** Turns the last row of a page (raw SQL row with `seq` and the sort columns) into an opaque cursor. */
export function encodeCursor(query: JobQuery, row: Readonly<Record<string, unknown>>): string {
  const keys = query.sort.map((k) => row[(PROPS[k.property] as PropertyDef).column] ?? null);
  return Buffer.from(JSON.stringify({ s: sortSignature(query.sort), k: keys, q: row['seq'] }), 'utf8').toString('base64url');
}

function decodeCursor(text: unknown, sort: readonly SortKey[]): Cursor {
  const path = 'page.cursor';
  if (typeof text !== 'string' || text.length > 4096) throw new QueryError(path, 'must be the nextPage string of a previous answer');
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new QueryError(path, 'is not a cursor of this store (pass nextPage unchanged)');
  }
  if (!isObj(c) || !Array.isArray(c['k']) || typeof c['q'] !== 'number' || !Number.isSafeInteger(c['q'])) throw new QueryError(path, 'is not a cursor of this store (pass nextPage unchanged)');
  if (c['s'] !== sortSignature(sort)) throw new QueryError(path, `was made for sort ${show(c['s'])}, this query sorts by ${show(sortSignature(sort))}: use the same sort for every page`);
  const keys = c['k'] as unknown[];
  if (keys.length !== sort.length) throw new QueryError(path, 'is damaged (wrong number of keys)');
  sort.forEach((k, i) => {
    const def = PROPS[k.property] as PropertyDef;
    const v = keys[i];
    const ok = v === null ? def.nullable : def.kind === 'string' || def.kind === 'enum' ? typeof v === 'string' : typeof v === 'number' && Number.isFinite(v);
    if (!ok) throw new QueryError(path, `is damaged (bad value for ${k.property})`);
  });
  return { keys: keys as (string | number | null)[], seq: c['q'] };
}

function parsePage(raw: unknown, sort: readonly SortKey[]): JobQuery['page'] {
  if (raw === undefined) return { size: DEFAULT_PAGE_SIZE };
  if (!isObj(raw)) throw new QueryError('page', 'must be { "size": n, "cursor"?: "..." }');
  onlyKeys(raw, 'page', ['size', 'cursor']);
  const size = raw['size'] ?? DEFAULT_PAGE_SIZE;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) throw new QueryError('page.size', `must be an integer 1..${MAX_PAGE_SIZE} (got ${show(size)})`);
  if (raw['cursor'] === undefined || raw['cursor'] === null) return { size };
  return { size, after: decodeCursor(raw['cursor'], sort) };
}

/**
 * Parses and checks a query ({ filter?, sort?, page? }, as an object or JSON text).
 * Throws QueryError naming the offending part; never anything else.
 */
export function parseJobQuery(json: unknown): JobQuery {
  let raw = json;
  if (typeof json === 'string') {
    try {
      raw = JSON.parse(json) as unknown;
    } catch {
      throw new QueryError('query', 'is not valid JSON');
    }
  }
  if (raw === undefined || raw === null) raw = {};
  if (!isObj(raw)) throw new QueryError('query', `must be an object { filter?, sort?, page? } (got ${show(raw)})`);
  onlyKeys(raw, 'query', ['filter', 'sort', 'page']);
  const sort = parseSort(raw['sort']);
  const page = parsePage(raw['page'], sort);
  if (raw['filter'] === undefined || raw['filter'] === null) return { sort, page };
  return { filter: parseFilter(raw['filter'], 'filter', 1, { nodes: 0 }), sort, page };
}
