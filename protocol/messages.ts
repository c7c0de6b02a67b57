// Message schemas of the fota wire contract (JSON over MQTT) and their validators.
// Pure: no IO. Every inbound message goes through a `parse*` function; nothing else reads raw payloads.

import { parsePath } from './paths.js';
import { Code, type CodeValue } from './lwm2m.js';

/** A resource value as carried in JSON: LwM2M String/Integer/Float/Boolean/Time, or nested for reads of instances. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** The largest payload a device accepts; larger messages are refused before JSON parsing. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
export const MAX_ID_LENGTH = 128;

export type Operation = 'read' | 'write' | 'execute' | 'observe' | 'cancel-observe';

export type Request =
  | { id: string; op: 'read'; path: string }
  | { id: string; op: 'write'; path: string; value: JsonValue }
  | { id: string; op: 'execute'; path: string; args?: string }
  | { id: string; op: 'observe'; path: string }
  | { id: string; op: 'cancel-observe'; path: string; token?: string };

export interface Response {
  id: string;
  code: CodeValue;
  value?: JsonValue;
  /** readable reason, always present on 4.xx/5.xx */
  reason?: string;
}

/** A change of an observed resource. `token` is the id of the observe request that asked for it. */
export interface Notification {
  token: string;
  path: string;
  value: JsonValue;
  /** increases by one per notification within one registration */
  seq: number;
  /** device clock, ms since the epoch */
  time: number;
}

/**
 * Register (first message after connecting) and Update (periodic refresh). Retained. A new `regId`
 * means the agent restarted: observations from before are gone and must be re-established (LwM2M 1.2 §6.2).
 */
export interface Registration {
  op: 'register' | 'update';
  ep: string;
  lwm2m: '1.2';
  /** lifetime in seconds: the hub may consider the registration stale when no Update arrives in time */
  lt: number;
  /** object instances the agent serves, as paths ("/3/0", "/5/0") */
  objects: string[];
  agent: { name: string; version: string };
  regId: string;
  time: number;
}

/** Retained presence. The agent's MQTT last will publishes `{ "online": false }`. */
export interface Presence {
  online: boolean;
  regId?: string;
  time?: number;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: string; id?: string };

const OPS: readonly Operation[] = ['read', 'write', 'execute', 'observe', 'cancel-observe'];

/**
 * The deepest nesting of arrays and objects a message may have (a written value nests at most 8 levels). Deeper is
 * refused before JSON.parse, which would build every level: 300 messages nested 30,000 deep grew the agent by 20 MiB.
 */
export const MAX_JSON_DEPTH = 16;

/** A byte scan outside JSON strings: false as soon as `[`/`{` nest deeper than `max`. */
function nestingWithin(payload: Uint8Array | string, max: number): boolean {
  let depth = 0;
  let inString = false;
  let escaped = false;
  const n = typeof payload === 'string' ? payload.length : payload.byteLength;
  for (let i = 0; i < n; i++) {
    const c = typeof payload === 'string' ? payload.charCodeAt(i) : payload[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 0x5c) escaped = true;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return false;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return true;
}

function decodeJson(payload: Uint8Array | string): ParseResult<unknown> {
  const size = typeof payload === 'string' ? payload.length : payload.byteLength;
  if (size > MAX_MESSAGE_BYTES) return { ok: false, reason: `message of ${size} bytes exceeds ${MAX_MESSAGE_BYTES}` };
  if (!nestingWithin(payload, MAX_JSON_DEPTH)) return { ok: false, reason: `message nests deeper than ${MAX_JSON_DEPTH} levels` };
  const text = typeof payload === 'string' ? payload : new TextDecoder('utf-8', { fatal: false }).decode(payload);
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, reason: 'payload is not valid JSON' };
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isJsonValue(v: unknown, depth = 0): v is JsonValue {
  if (depth > 8) return false;
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every((x) => isJsonValue(x, depth + 1));
  if (isObject(v)) return Object.values(v).every((x) => isJsonValue(x, depth + 1));
  return false;
}

function validId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH;
}

/** Validates a hub → device request. A failure carries the request id when one could be read. */
export function parseRequest(payload: Uint8Array | string): ParseResult<Request> {
  const decoded = decodeJson(payload);
  if (!decoded.ok) return decoded;
  const m = decoded.value;
  if (!isObject(m)) return { ok: false, reason: 'request must be a JSON object' };
  const id = validId(m.id) ? m.id : undefined;
  const fail = (reason: string): ParseResult<Request> => (id === undefined ? { ok: false, reason } : { ok: false, reason, id });
  if (id === undefined) return fail(`"id" must be a non-empty string of at most ${MAX_ID_LENGTH} characters`);
  if (typeof m.op !== 'string' || !OPS.includes(m.op as Operation)) return fail(`"op" must be one of ${OPS.join(', ')}`);
  if (typeof m.path !== 'string' || parsePath(m.path) === undefined) return fail('"path" must look like /object[/instance[/resource]]');
  const known = new Set(['id', 'op', 'path', 'value', 'args', 'token']);
  const unknown = Object.keys(m).filter((k) => !known.has(k));
  if (unknown.length > 0) return fail(`unknown field(s): ${unknown.join(', ')}`);
  const path = m.path;
  switch (m.op as Operation) {
    case 'read':
      return { ok: true, value: { id, op: 'read', path } };
    case 'observe':
      return { ok: true, value: { id, op: 'observe', path } };
    case 'write':
      if (!('value' in m) || !isJsonValue(m.value)) return fail('"write" needs a JSON "value"');
      return { ok: true, value: { id, op: 'write', path, value: m.value } };
    case 'execute':
      if (m.args !== undefined && typeof m.args !== 'string') return fail('"args" must be a string');
      if (typeof m.args === 'string' && m.args.length > 1024) return fail('"args" is longer than 1024 characters');
      return { ok: true, value: typeof m.args === 'string' ? { id, op: 'execute', path, args: m.args } : { id, op: 'execute', path } };
    case 'cancel-observe':
      if (m.token !== undefined && !validId(m.token)) return fail('"token" must be a non-empty string');
      return { ok: true, value: typeof m.token === 'string' ? { id, op: 'cancel-observe', path, token: m.token } : { id, op: 'cancel-observe', path } };
  }
}

const CODES = new Set<string>(Object.values(Code));

export function parseResponse(payload: Uint8Array | string): ParseResult<Response> {
  const decoded = decodeJson(payload);
  if (!decoded.ok) return decoded;
  const m = decoded.value;
  if (!isObject(m) || !validId(m.id)) return { ok: false, reason: 'response needs an "id"' };
  if (typeof m.code !== 'string' || !CODES.has(m.code)) return { ok: false, reason: 'response "code" is not a known code', id: m.id };
  const res: Response = { id: m.id, code: m.code as CodeValue };
  if ('value' in m && isJsonValue(m.value)) res.value = m.value;
  if (typeof m.reason === 'string') res.reason = m.reason;
  return { ok: true, value: res };
}

export function parseNotification(payload: Uint8Array | string): ParseResult<Notification> {
  const decoded = decodeJson(payload);
  if (!decoded.ok) return decoded;
  const m = decoded.value;
  if (!isObject(m) || !validId(m.token) || typeof m.path !== 'string' || parsePath(m.path) === undefined)
    return { ok: false, reason: 'notification needs "token" and "path"' };
  if (!isJsonValue(m.value) || typeof m.seq !== 'number' || typeof m.time !== 'number')
    return { ok: false, reason: 'notification needs "value", "seq" and "time"' };
  return { ok: true, value: { token: m.token, path: m.path, value: m.value, seq: m.seq, time: m.time } };
}

export function parseRegistration(payload: Uint8Array | string): ParseResult<Registration> {
  const decoded = decodeJson(payload);
  if (!decoded.ok) return decoded;
  const m = decoded.value;
  if (!isObject(m) || (m.op !== 'register' && m.op !== 'update') || typeof m.ep !== 'string') return { ok: false, reason: 'not a registration' };
  if (typeof m.lt !== 'number' || !Array.isArray(m.objects) || !m.objects.every((o) => typeof o === 'string'))
    return { ok: false, reason: 'registration needs "lt" and "objects"' };
  const agent = isObject(m.agent) && typeof m.agent.name === 'string' && typeof m.agent.version === 'string' ? m.agent : undefined;
  if (!agent || typeof m.regId !== 'string' || typeof m.time !== 'number') return { ok: false, reason: 'registration needs "agent", "regId" and "time"' };
  return {
    ok: true,
    value: {
      op: m.op,
      ep: m.ep,
      lwm2m: '1.2',
      lt: m.lt,
      objects: m.objects as string[],
      agent: { name: agent.name as string, version: agent.version as string },
      regId: m.regId,
      time: m.time,
    },
  };
}

export function parsePresence(payload: Uint8Array | string): ParseResult<Presence> {
  const decoded = decodeJson(payload);
  if (!decoded.ok) return decoded;
  const m = decoded.value;
  if (!isObject(m) || typeof m.online !== 'boolean') return { ok: false, reason: 'presence needs "online"' };
  const p: Presence = { online: m.online };
  if (typeof m.regId === 'string') p.regId = m.regId;
  if (typeof m.time === 'number') p.time = m.time;
  return { ok: true, value: p };
}

export function encode(message: Request | Response | Notification | Registration | Presence): string {
  return JSON.stringify(message);
}
