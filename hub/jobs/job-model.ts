// The device-job record the hub keeps (one parent per fleet job, one child per device), its parameters, ids
// and validation. Pure: no IO. Times are ISO 8601 UTC strings here; the store keeps ms epoch integers.

import type { UpdateResultValue } from '../../protocol/lwm2m.js';
import type { JsonValue } from '../../protocol/messages.js';
import { isValidEndpoint } from '../../protocol/topics.js';
import { parsePath } from '../../protocol/paths.js';

export const JOB_TYPES = [
  'firmware-update',
  'reboot',
  'factory-reset',
  'configuration-update',
  'read-device-properties',
  'write-device-properties',
] as const;
export type JobType = (typeof JOB_TYPES)[number];

export const JOB_STATUSES = ['Queued', 'Running', 'Completed', 'Failed', 'Cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/** What needs a look first, when not every child can be shown: what is happening, what went wrong, then the rest. */
export const ATTENTION_ORDER: readonly JobStatus[] = ['Running', 'Failed', 'Queued', 'Cancelled', 'Completed'];
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['Completed', 'Failed', 'Cancelled']);
/** A count per status, every one 0 (children's counts start here). */
export const zeroCounts = (): Record<JobStatus, number> => Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;

/** Settings every job type takes. Rollout knobs (maxInFlight, abortFailureRatio) matter on the parent. */
export interface CommonParameters {
  /** how long one device may take, in seconds (1..604800) */
  timeoutSeconds: number;
  /** at most this many children run at once (>= 1); unset = no limit */
  maxInFlight?: number;
  /** stop starting new children once failed/finished exceeds this ratio (0..1); unset = never abort */
  abortFailureRatio?: number;
  /** a device the hub has never seen is waited for (up to timeoutSeconds) instead of failing its child at once */
  waitForDevices?: boolean;
}
/** Type-specific parameters, stored as JSON with the job. */
export type JobParameters = CommonParameters & {
  /** firmware-update: the package URI written to /5/0/1 (http or https) */
  packageUri?: string;
  /** firmware-update: the devices may install a version below the installed one (never below their security floor) */
  allowDowngrade?: boolean;
  /** read-device-properties: LwM2M paths to read ("/3/0/3") */
  paths?: string[];
  /** write-device-properties: LwM2M resource path → value */
  values?: Record<string, JsonValue>;
  /** configuration-update: agent configuration key → value */
  config?: Record<string, JsonValue>;
};

/** One step of a job's life as the runner saw it ("uri written", "downloaded", "updating", "rebooted", "idle+1"). */
export interface JobLogEntry {
  /** ISO 8601 UTC */
  time: string;
  step: string;
  detail?: string;
}

/**
 * A job as the API shows it. Property names are the names the query language filters and sorts on.
 * Result fields (UpdateResult … Values) are null until the device reported them; parents never have them.
 */
export interface JobRecord {
  JobId: string;
  /** "" for a parent */
  ParentJobId: string;
  /** "" for a parent */
  DeviceId: string;
  Type: JobType;
  Status: JobStatus;
  StatusMessage: string;
  /** ISO 8601 UTC with milliseconds */
  CreatedTime: string;
  /** when the job first became Running; null while queued or when it ended without running */
  StartTime: string | null;
  /** when the job reached a terminal status; null before */
  EndTime: string | null;
  /** 0..100 */
  Progress: number;
  /** true when the job failed because the device did not finish within timeoutSeconds */
  TimedOut: boolean;
  /** LwM2M Object 5 Update Result (0..10) the device reported last */
  UpdateResult: UpdateResultValue | null;
  /** the device's stable error code (Object 5 vendor resource ResultCode), e.g. "integrity-mismatch" */
  ErrorCode: string | null;
  FirmwareVersionBefore: string | null;
  FirmwareVersionAfter: string | null;
  /** read-device-properties: path → value read */
  Values: Record<string, JsonValue> | null;
  Parameters: JobParameters;
  /** newest last; at most MAX_LOG_ENTRIES (the oldest are dropped) */
  Log: JobLogEntry[];
}

/** Fields `JobStore.update` accepts. StartTime, EndTime and the ids are the store's business. */
export interface JobPatch {
  Status?: JobStatus;
  StatusMessage?: string;
  Progress?: number;
  TimedOut?: boolean;
  UpdateResult?: UpdateResultValue | null;
  ErrorCode?: string | null;
  FirmwareVersionBefore?: string | null;
  FirmwareVersionAfter?: string | null;
  Values?: Record<string, JsonValue> | null;
}
export const PATCH_FIELDS = [
  'Status', 'StatusMessage', 'Progress', 'TimedOut', 'UpdateResult', 'ErrorCode',
  'FirmwareVersionBefore', 'FirmwareVersionAfter', 'Values',
] as const satisfies readonly (keyof JobPatch)[];

/** 'busy': another process holds the database's lock; nothing was changed and the same call may succeed later. */
export type JobStoreErrorCode = 'invalid-job' | 'duplicate-job' | 'not-found' | 'invalid-update' | 'storage' | 'busy';

/** What JobStore throws: a stable `code` and a message that says what to change. */
export class JobStoreError extends Error {
  constructor(
    readonly code: JobStoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'JobStoreError';
  }
}

/** Parent job ids: user-chosen, URL- and topic-safe. No "~", so a child id splits unambiguously. */
export const PARENT_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
/** Separator between parent id and device id in a child job id (device ids never contain it). */
export const CHILD_ID_SEPARATOR = '~';
export const MAX_LOG_ENTRIES = 64;
export const MAX_TEXT_LENGTH = 1024;
export const MAX_JSON_BYTES = 64 * 1024;
export const MAX_CHILDREN = 100_000;

/** The id of the child job of `parentId` for `deviceId`: "fw-2024-06~device-17". */
export function childJobId(parentId: string, deviceId: string): string {
  return `${parentId}${CHILD_ID_SEPARATOR}${deviceId}`;
}

/** Throws JobStoreError('invalid-job') unless `id` is a valid parent job id. */
export function checkParentJobId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !PARENT_ID_RE.test(id)) {
    throw new JobStoreError('invalid-job', `job id ${JSON.stringify(id)} is invalid: use 1-64 characters A-Z a-z 0-9 . _ : - starting with a letter or digit`);
  }
}

/** Throws JobStoreError('invalid-job') unless `id` is a valid device id (an LwM2M endpoint name). */
export function checkDeviceId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !isValidEndpoint(id)) {
    throw new JobStoreError('invalid-job', `device id ${JSON.stringify(id)} is invalid: use 1-128 characters A-Z a-z 0-9 . _ : - starting with a letter or digit`);
  }
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** Parses "2024-06-01", "2024-06-01T12:00Z", "2024-06-01T12:00:00.123+02:00" to ms; undefined when invalid. */
export function parseIsoTime(text: string): number | undefined {
  const m = ISO_RE.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h = '0', mi = '0', s = '0', frac = '', tz = 'Z'] = m.slice(1);
  const ms = Number(frac.padEnd(3, '0').slice(0, 3));
  const local = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  const back = new Date(local);
  // Date.UTC rolls Feb 30 over to Mar 1 (and maps years 0-99 to 19xx); a round trip catches both.
  if (back.getUTCFullYear() !== Number(y) || back.getUTCDate() !== Number(d) || back.getUTCMonth() !== Number(mo) - 1 || back.getUTCHours() !== Number(h) || back.getUTCMinutes() !== Number(mi) || back.getUTCSeconds() !== Number(s)) return undefined;
  const [oh, om] = [Number(tz.slice(1, 3)), Number(tz.slice(4, 6))];
  if (tz !== 'Z' && (oh > 23 || om > 59)) return undefined;
  const offset = tz === 'Z' ? 0 : (tz.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  return local - offset * 60_000;
}

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

function bad(message: string): never {
  throw new JobStoreError('invalid-job', message);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkJsonSize(what: string, v: unknown): void {
  const size = Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8');
  if (size > MAX_JSON_BYTES) bad(`${what} is ${size} bytes of JSON; the limit is ${MAX_JSON_BYTES}`);
}

function checkPathKeys(what: string, obj: unknown, resourceOnly: boolean): void {
  if (!isPlainObject(obj) || Object.keys(obj).length === 0) bad(`${what} must be a non-empty object of LwM2M path → value`);
  for (const p of Object.keys(obj)) {
    const lw = parsePath(p);
    if (!lw || (resourceOnly && lw.resource === undefined)) bad(`${what}: "${p}" is not an LwM2M resource path such as /3/0/13`);
  }
}

/**
 * Validates the parameters of a job of `type` and returns a clean copy (unknown keys refused).
 * Throws JobStoreError('invalid-job') naming the offending key.
 */
export function checkParameters(type: JobType, params: unknown): JobParameters {
  if (!isPlainObject(params)) bad('parameters must be an object');
  const allowed = new Set(['timeoutSeconds', 'maxInFlight', 'abortFailureRatio', 'waitForDevices']);
  const extra = { 'firmware-update': 'packageUri', 'read-device-properties': 'paths', 'write-device-properties': 'values', 'configuration-update': 'config' } as Partial<Record<JobType, string>>;
  const own = extra[type];
  if (own !== undefined) allowed.add(own);
  if (type === 'firmware-update') allowed.add('allowDowngrade');
  for (const k of Object.keys(params)) if (!allowed.has(k)) bad(`parameters.${k} is not a parameter of a ${type} job (allowed: ${[...allowed].join(', ')})`);
  const { timeoutSeconds: t, maxInFlight: m, abortFailureRatio: r } = params;
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > 604_800) bad('parameters.timeoutSeconds must be an integer 1..604800');
  const out: JobParameters = { timeoutSeconds: t };
  if (m !== undefined) {
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 1) bad('parameters.maxInFlight must be an integer >= 1');
    out.maxInFlight = m;
  }
  if (r !== undefined) {
    if (typeof r !== 'number' || !(r >= 0 && r <= 1)) bad('parameters.abortFailureRatio must be a number 0..1');
    out.abortFailureRatio = r;
  }
  const w = params['waitForDevices'];
  if (w !== undefined) {
    if (typeof w !== 'boolean') bad('parameters.waitForDevices must be true or false');
    if (w) out.waitForDevices = true;
  }
  if (type === 'firmware-update') {
    const u = params['packageUri'];
    let ok = false;
    try {
      ok = typeof u === 'string' && u.length <= 2048 && ['http:', 'https:'].includes(new URL(u).protocol);
    } catch {
      ok = false;
    }
    if (!ok) bad('parameters.packageUri must be an http:// or https:// URL of at most 2048 characters');
    out.packageUri = u as string;
    const down = params['allowDowngrade'];
    if (down !== undefined && typeof down !== 'boolean') bad('parameters.allowDowngrade must be true or false');
    if (down === true) out.allowDowngrade = true;
  } else if (type === 'read-device-properties') {
    const p = params['paths'];
    if (!Array.isArray(p) || p.length === 0 || p.some((x) => typeof x !== 'string' || !parsePath(x))) bad('parameters.paths must be a non-empty array of LwM2M paths such as /3/0/3');
    out.paths = [...(p as string[])];
  } else if (type === 'write-device-properties') {
    checkPathKeys('parameters.values', params['values'], true);
    out.values = params['values'] as Record<string, JsonValue>;
  } else if (type === 'configuration-update') {
    const c = params['config'];
    if (!isPlainObject(c) || Object.keys(c).length === 0) bad('parameters.config must be a non-empty object of key → value');
    out.config = c as Record<string, JsonValue>;
  }
  checkJsonSize('parameters', out);
  return out;
}

function no(message: string): never {
  throw new JobStoreError('invalid-update', message);
}

/** Validates a patch for `JobStore.update`. Throws JobStoreError('invalid-update') naming the field. */
export function checkPatch(patch: unknown): JobPatch {
  if (!isPlainObject(patch)) no('patch must be an object');
  const fields = new Set<string>(PATCH_FIELDS);
  for (const [k, v] of Object.entries(patch)) {
    if (!fields.has(k)) no(`${k} cannot be updated (updatable: ${PATCH_FIELDS.join(', ')})`);
    if (v === undefined) continue;
    const nullable = k !== 'Status' && k !== 'StatusMessage' && k !== 'Progress' && k !== 'TimedOut';
    if (v === null && nullable) continue;
    if (k === 'Status' && !(JOB_STATUSES as readonly unknown[]).includes(v)) no(`Status must be one of ${JOB_STATUSES.join(', ')}`);
    if (k === 'Progress' && !(typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 100)) no('Progress must be an integer 0..100');
    if (k === 'TimedOut' && typeof v !== 'boolean') no('TimedOut must be true or false');
    if (k === 'UpdateResult' && !(typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 10)) no('UpdateResult must be an LwM2M Update Result 0..10 or null');
    if (['StatusMessage', 'ErrorCode', 'FirmwareVersionBefore', 'FirmwareVersionAfter'].includes(k) && !(typeof v === 'string' && v.length <= MAX_TEXT_LENGTH)) no(`${k} must be a string of at most ${MAX_TEXT_LENGTH} characters${nullable ? ' or null' : ''}`);
    if (k === 'Values') {
      if (!isPlainObject(v)) no('Values must be an object of LwM2M path → value, or null');
      try {
        checkJsonSize('Values', v);
      } catch (e) {
        no((e as Error).message);
      }
    }
  }
  return patch as JobPatch;
}
