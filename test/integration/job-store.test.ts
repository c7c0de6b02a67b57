// JobStore against a real SQLite file in a temp dir: atomic creation, updates, reopen, and the query language
// checked against a brute-force in-memory filter over random jobs and random filters (seeded, reproducible).

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// better-sqlite3 is used raw only to inject faults and to look at the file
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JOB_STATUSES, JOB_TYPES, JobStoreError, type JobRecord, type JobStatus } from '../../hub/jobs/job-model.js';
import { parseJobQuery, QUERY_PROPERTIES, type JobFilter, type PropertyName, type SortKey } from '../../hub/jobs/job-query.js';
import { toSql } from '../../hub/jobs/job-query-sql.js';
import { SCHEMA_VERSION } from '../../hub/jobs/job-schema.js';
import { JobStore } from '../../hub/jobs/job-store.js';

const T0 = Date.UTC(2024, 5, 1, 8, 0, 0);
const fw = { timeoutSeconds: 600, packageUri: 'https://fw.example/pkg-2.0.fota', maxInFlight: 10 };
let dir: string;
let file: string;
let clock: number;
const stores: JobStore[] = [];
const open = () => {
  const s = JobStore.open(file, { now: () => clock });
  stores.push(s);
  return s;
};
const zero = { Queued: 0, Running: 0, Completed: 0, Failed: 0, Cancelled: 0 };
const devices = (...ids: string[]) => ids.map((DeviceId) => ({ DeviceId }));
const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    if (e instanceof JobStoreError) return e.code;
    throw e;
  }
  return 'no error';
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fota-jobs-'));
  file = join(dir, 'jobs.db');
  clock = T0;
});
afterEach(async () => {
  for (const s of stores.splice(0)) s.close();
  await rm(dir, { recursive: true, force: true });
});

describe('creating jobs', () => {
  it('creates a parent and one queued child per device', () => {
    const store = open();
    const parent = store.createJob({ JobId: 'fw-2024-06', Type: 'firmware-update', Parameters: fw }, devices('dev-1', 'dev-2', 'aa:bb:cc'));
    expect(parent).toMatchObject({ JobId: 'fw-2024-06', ParentJobId: '', DeviceId: '', Status: 'Queued', CreatedTime: '2024-06-01T08:00:00.000Z', StartTime: null, EndTime: null, Progress: 0, TimedOut: false, UpdateResult: null, Parameters: fw, Log: [] });
    expect(store.children('fw-2024-06').map((c) => [c.JobId, c.ParentJobId, c.DeviceId, c.Type, c.Status])).toEqual([
      ['fw-2024-06~dev-1', 'fw-2024-06', 'dev-1', 'firmware-update', 'Queued'],
      ['fw-2024-06~dev-2', 'fw-2024-06', 'dev-2', 'firmware-update', 'Queued'],
      ['fw-2024-06~aa:bb:cc', 'fw-2024-06', 'aa:bb:cc', 'firmware-update', 'Queued'],
    ]);
    expect(store.summary('fw-2024-06')).toEqual({ Queued: 3, Running: 0, Completed: 0, Failed: 0, Cancelled: 0 });
  });

  it('writes nothing when an insert fails half way (one transaction)', () => {
    const store = open();
    const raw = new Database(file);
    raw.exec(`CREATE TRIGGER boom BEFORE INSERT ON jobs WHEN NEW.device_id = 'dev-3' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);
    raw.close();
    const e = (() => {
      try {
        store.createJob({ JobId: 'j1', Type: 'reboot', Parameters: { timeoutSeconds: 60 } }, devices('dev-1', 'dev-2', 'dev-3', 'dev-4'));
      } catch (err) {
        return err as JobStoreError;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(JobStoreError);
    expect(e?.code).toBe('storage');
    expect(e?.message).toMatch(/injected failure; nothing was changed/);
    expect(store.get('j1')).toBeUndefined();
    expect(store.get('j1~dev-1')).toBeUndefined();
    expect(store.query(parseJobQuery({})).total).toBe(0);
  });

  it.each([
    ['bad parent id', { JobId: 'has space', Type: 'reboot', Parameters: { timeoutSeconds: 60 } }, devices('d'), 'invalid-job'],
    ['parent id with the child separator', { JobId: 'a~b', Type: 'reboot', Parameters: { timeoutSeconds: 60 } }, devices('d'), 'invalid-job'],
    ['bad device id', { JobId: 'j', Type: 'reboot', Parameters: { timeoutSeconds: 60 } }, devices('d/1'), 'invalid-job'],
    ['same device twice', { JobId: 'j', Type: 'reboot', Parameters: { timeoutSeconds: 60 } }, devices('d', 'd'), 'invalid-job'],
    ['no devices', { JobId: 'j', Type: 'reboot', Parameters: { timeoutSeconds: 60 } }, [], 'invalid-job'],
    ['unknown type', { JobId: 'j', Type: 'format-disk', Parameters: { timeoutSeconds: 60 } }, devices('d'), 'invalid-job'],
    ['missing package URI', { JobId: 'j', Type: 'firmware-update', Parameters: { timeoutSeconds: 60 } }, devices('d'), 'invalid-job'],
    ['a non-boolean allowDowngrade', { JobId: 'j', Type: 'firmware-update', Parameters: { ...fw, allowDowngrade: 'yes' } }, devices('d'), 'invalid-job'],
    ['allowDowngrade on another type', { JobId: 'j', Type: 'reboot', Parameters: { timeoutSeconds: 60, allowDowngrade: true } }, devices('d'), 'invalid-job'],
    ['parameter of another type', { JobId: 'j', Type: 'reboot', Parameters: { timeoutSeconds: 60, paths: ['/3/0/3'] } }, devices('d'), 'invalid-job'],
    ['bad read path', { JobId: 'j', Type: 'read-device-properties', Parameters: { timeoutSeconds: 60, paths: ['3/0/3'] } }, devices('d'), 'invalid-job'],
  ])('refuses %s', (_name, parent, children, code) => {
    const store = open();
    expect(codeOf(() => store.createJob(parent as never, children))).toBe(code);
    expect(store.query(parseJobQuery({})).total).toBe(0);
  });

  it('reads one snapshot in snapshot(): a write from another connection lands after it, not between its reads', () => {
    const store = open();
    store.createJob({ JobId: 'j1', Type: 'reboot', Parameters: { timeoutSeconds: 60 } }, devices('dev-1', 'dev-2'));
    // the creation's turn holds the write lock until it commits (at the turn's end): commit it now, so that the other
    // connection can write (a snapshot taken inside an open turn is test/unit/job-store-turn.test.ts's)
    store.flush();
    const other = new Database(file);
    const finishOne = () => other.prepare(`UPDATE jobs SET status = 'Completed' WHERE job_id = ?`).run('j1~dev-1');
    const seen = store.snapshot(() => {
      const before = store.summary('j1');
      finishOne();
      return [before, store.summary('j1'), store.get('j1~dev-1')?.Status];
    });
    other.close();
    expect(seen).toEqual([{ ...zero, Queued: 2 }, { ...zero, Queued: 2 }, 'Queued']);
    expect(store.summary('j1')).toEqual({ ...zero, Queued: 1, Completed: 1 });
  });

  it('refuses a job id that exists, keeping the first job', () => {
    const store = open();
    store.createJob({ JobId: 'j', Type: 'reboot', Parameters: { timeoutSeconds: 60 } }, devices('a'));
    expect(codeOf(() => store.createJob({ JobId: 'j', Type: 'factory-reset', Parameters: { timeoutSeconds: 60 } }, devices('b')))).toBe('duplicate-job');
    expect(store.get('j')?.Type).toBe('reboot');
    expect(store.children('j').map((c) => c.DeviceId)).toEqual(['a']);
  });
});

describe('rollout aggregates', () => {
  it('gives the next queued children in order and the parent rollup without reading every child', () => {
    const store = open();
    store.createJob({ JobId: 'roll', Type: 'firmware-update', Parameters: fw }, devices('d1', 'd2', 'd3', 'd4', 'd5'));
    expect(store.childrenWithStatus('roll', 'Queued', 2).map((c) => c.DeviceId)).toEqual(['d1', 'd2']);
    expect(store.childrenWithStatus('roll', 'Queued', 0)).toEqual([]);
    store.update('roll~d1', { Status: 'Running', Progress: 40 });
    store.update('roll~d2', { Status: 'Failed' });
    store.update('roll~d4', { Status: 'Failed' });
    store.update('roll~d3', { Status: 'Completed' });
    expect(store.childrenWithStatus('roll', 'Queued', 10).map((c) => c.DeviceId)).toEqual(['d5']);
    const r = store.rollup('roll', 1);
    expect(r.counts).toEqual({ Queued: 1, Running: 1, Completed: 1, Failed: 2, Cancelled: 0 });
    expect(r.progressSum).toBe(40 + 100 + 100 + 100 + 0);
    expect(r.failedDevices).toEqual(['d2']);
  });
});

describe('updating jobs', () => {
  it('sets StartTime on the first Running and EndTime on a terminal status, which is final', () => {
    const store = open();
    store.createJob({ JobId: 'j', Type: 'firmware-update', Parameters: fw }, devices('d'));
    clock = T0 + 1000;
    expect(store.update('j~d', { Status: 'Running', Progress: 10, FirmwareVersionBefore: '1.0' })).toMatchObject({ Status: 'Running', StartTime: '2024-06-01T08:00:01.000Z', EndTime: null, Progress: 10 });
    clock = T0 + 2000;
    store.update('j~d', { Status: 'Queued' });
    clock = T0 + 3000;
    expect(store.update('j~d', { Status: 'Running' }).StartTime).toBe('2024-06-01T08:00:01.000Z');
    clock = T0 + 60_000;
    const done = store.update('j~d', { Status: 'Completed', UpdateResult: 1, FirmwareVersionAfter: '2.0', StatusMessage: 'updated' });
    expect(done).toMatchObject({ Status: 'Completed', EndTime: '2024-06-01T08:01:00.000Z', Progress: 100, UpdateResult: 1, FirmwareVersionBefore: '1.0', FirmwareVersionAfter: '2.0' });
    clock = T0 + 90_000;
    expect(codeOf(() => store.update('j~d', { Status: 'Failed' }))).toBe('invalid-update');
    expect(store.update('j~d', { Status: 'Completed' }).EndTime).toBe('2024-06-01T08:01:00.000Z');
    expect(store.update('j~d', { ErrorCode: null, StatusMessage: 'late report' }).StatusMessage).toBe('late report');
  });

  it('ends without a StartTime when cancelled before running, and records a timeout', () => {
    const store = open();
    store.createJob({ JobId: 'j', Type: 'read-device-properties', Parameters: { timeoutSeconds: 5, paths: ['/3/0/3'] } }, devices('d', 'e'));
    clock = T0 + 5000;
    expect(store.update('j~d', { Status: 'Cancelled' })).toMatchObject({ StartTime: null, EndTime: '2024-06-01T08:00:05.000Z', Progress: 0 });
    store.update('j~e', { Status: 'Running' });
    expect(store.update('j~e', { Status: 'Failed', TimedOut: true, Values: { '/3/0/3': '1.0' } })).toMatchObject({ TimedOut: true, Values: { '/3/0/3': '1.0' }, Progress: 0 });
  });

  it.each([
    ['an id field', { JobId: 'x' }],
    ['EndTime', { EndTime: '2024-01-01T00:00:00Z' }],
    ['a bad status', { Status: 'Done' }],
    ['progress over 100', { Progress: 101 }],
    ['an update result of 11', { UpdateResult: 11 }],
    ['a string for TimedOut', { TimedOut: 'yes' }],
  ])('refuses %s', (_name, patch) => {
    const store = open();
    store.createJob({ JobId: 'j', Type: 'reboot', Parameters: { timeoutSeconds: 60 } }, devices('d'));
    expect(codeOf(() => store.update('j~d', patch as never))).toBe('invalid-update');
    expect(store.get('j~d')).toMatchObject({ Status: 'Queued', Progress: 0 });
  });

  it('reports a missing job', () => {
    const store = open();
    expect(codeOf(() => store.update('nope', { Progress: 1 }))).toBe('not-found');
    expect(codeOf(() => store.appendLog('nope', { step: 'x' }))).toBe('not-found');
    expect(store.get('nope')).toBeUndefined();
  });

  it('appends log steps with their times and keeps the newest 64', () => {
    const store = open();
    store.createJob({ JobId: 'j', Type: 'firmware-update', Parameters: fw }, devices('d'));
    const steps = ['uri written', 'downloaded', 'updating', 'rebooted', 'idle+1'];
    steps.forEach((step, i) => {
      clock = T0 + i * 1000;
      store.appendLog('j~d', i === 3 ? { step, detail: 'slot B' } : { step });
    });
    expect(store.get('j~d')?.Log).toEqual([
      { time: '2024-06-01T08:00:00.000Z', step: 'uri written' },
      { time: '2024-06-01T08:00:01.000Z', step: 'downloaded' },
      { time: '2024-06-01T08:00:02.000Z', step: 'updating' },
      { time: '2024-06-01T08:00:03.000Z', step: 'rebooted', detail: 'slot B' },
      { time: '2024-06-01T08:00:04.000Z', step: 'idle+1' },
    ]);
    store.batch(() => {
      for (let i = 0; i < 70; i++) store.appendLog('j~d', { step: `s${i}` });
    });
    const log = store.get('j~d')?.Log ?? [];
    expect(log).toHaveLength(64);
    expect(log[0]?.step).toBe('s6');
    expect(log[63]?.step).toBe('s69');
  });
});

describe('reopening the file', () => {
  it('keeps the schema and the jobs, and lists the unfinished ones parents first', () => {
    let store = open();
    store.createJob({ JobId: 'a', Type: 'reboot', Parameters: { timeoutSeconds: 60 } }, devices('d1', 'd2', 'd3'));
    store.createJob({ JobId: 'b', Type: 'factory-reset', Parameters: { timeoutSeconds: 60 } }, devices('d1'));
    store.update('a', { Status: 'Running' });
    store.update('a~d1', { Status: 'Completed' });
    store.update('a~d2', { Status: 'Running' });
    store.update('b', { Status: 'Cancelled' });
    store.update('b~d1', { Status: 'Cancelled' });
    store.close();
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    store = open();
    expect(store.listUnfinished().map((j) => [j.JobId, j.Status])).toEqual([
      ['a', 'Running'],
      ['a~d2', 'Running'],
      ['a~d3', 'Queued'],
    ]);
    expect(store.get('a~d1')?.EndTime).toBe('2024-06-01T08:00:00.000Z');
  });

  it('refuses a file of another application or of a newer schema', async () => {
    const foreign = new Database(file);
    foreign.exec('CREATE TABLE notes (x TEXT)');
    foreign.close();
    expect(codeOf(() => open())).toBe('storage');
    await rm(file);
    open().close();
    const newer = new Database(file);
    newer.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    newer.close();
    expect(() => open()).toThrow(/newer than this hub understands/);
    await writeFile(file, 'not a database at all, just some text that is long enough to be a header '.repeat(20));
    expect(codeOf(() => open())).toBe('storage');
  });
});

describe('indexes', () => {
  const c = (name: string, op: string, value: unknown) => ({ type: 'comparison', property: name, comparisonOperator: op, value });
  it.each([
    ['status', { filter: c('Status', 'eq', 'Running') }, 'jobs_status'],
    ['type and start time', { filter: { type: 'and', filters: [c('Type', 'eq', 'reboot'), c('StartTime', 'gte', T0)] }, sort: '-StartTime' }, 'jobs_type_start'],
    ['parent', { filter: c('ParentJobId', 'eq', 'j') }, 'jobs_parent'],
    ['device', { filter: c('DeviceId', 'eq', 'd') }, 'jobs_device'],
    ['start time range', { filter: c('StartTime', 'lt', T0), sort: 'StartTime' }, 'jobs_start'],
    ['created time order', { sort: '-CreatedTime' }, 'jobs_created'],
    // the pages of GET /v1/jobs/:id and `fota job show --wait`: straight from the index, no sort of every child
    ['parent in creation order', { filter: c('ParentJobId', 'eq', 'j'), sort: 'CreatedTime' }, 'jobs_parent_created'],
    ['parent and status in creation order', { filter: { type: 'and', filters: [c('ParentJobId', 'eq', 'j'), c('Status', 'eq', 'Completed')] }, sort: 'CreatedTime' }, 'jobs_parent_status'],
  ])('serve a query by %s', (_name, query, index) => {
    open().close();
    const sql = toSql(parseJobQuery(query));
    const raw = new Database(file, { readonly: true });
    const plan = (raw.prepare(`EXPLAIN QUERY PLAN SELECT * FROM jobs WHERE ${sql.where} ORDER BY ${sql.orderBy} LIMIT ?`).all(...sql.params, sql.limit) as { detail: string }[]).map((r) => r.detail).join('; ');
    raw.close();
    expect(plan).toContain(`INDEX ${index}`);
    if (index.startsWith('jobs_parent_')) expect(plan).not.toContain('TEMP B-TREE');
  });
});

describe('a closed store', () => {
  it('refuses every call with a storage error, and closes twice quietly', () => {
    const store = open();
    store.createJob({ JobId: 'j', Type: 'reboot', Parameters: { timeoutSeconds: 60 } }, devices('d'));
    store.close();
    store.close();
    expect(codeOf(() => store.get('j'))).toBe('storage');
    expect(codeOf(() => store.update('j', { Progress: 1 }))).toBe('storage');
    expect(codeOf(() => store.query(parseJobQuery({})))).toBe('storage');
    expect(codeOf(() => store.listUnfinished())).toBe('storage');
  });
});

// ---- the query language against a brute-force filter ----

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0; // mulberry32
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const timeProps = new Set(['CreatedTime', 'StartTime', 'EndTime']);
/** The record value in the form filters compare: times as ms, everything else as is. */
function valueOf(job: JobRecord, p: PropertyName): string | number | boolean | null {
  const v = job[p];
  if (timeProps.has(p)) return v === null ? null : Date.parse(v as string);
  return v as string | number | boolean | null;
}

/** The documented semantics, written independently of the SQL: a NULL matches only `eq null` and `ne x`. */
function matches(job: JobRecord, f: JobFilter): boolean {
  if (f.type === 'and') return f.filters.every((x) => matches(job, x));
  if (f.type === 'or') return f.filters.some((x) => matches(job, x));
  if (f.type === 'not') return !matches(job, f.filter);
  const a = valueOf(job, f.property);
  const b = f.value;
  if (f.operator === 'eq') return a === b;
  if (f.operator === 'ne') return a !== b;
  if (a === null || b === null) return false;
  if (f.operator === 'lt') return a < b;
  if (f.operator === 'lte') return a <= b;
  if (f.operator === 'gt') return a > b;
  return a >= b;
}

/** -1/0/1 in the documented order: NULL first ascending, last descending. */
function compareBy(sort: readonly SortKey[], x: JobRecord, y: JobRecord): number {
  for (const k of sort) {
    const a = valueOf(x, k.property);
    const b = valueOf(y, k.property);
    if (a === b) continue;
    const c = a === null ? -1 : b === null ? 1 : a < b ? -1 : 1;
    return k.order === 'asc' ? c : -c;
  }
  return 0;
}

function populate(store: JobStore, rnd: () => number): void {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const versions = ['1.0', '1.1', '2.0', '2.0-rc1', ''];
  for (let p = 0; p < 24; p++) {
    clock = T0 + Math.floor(rnd() * 20) * 60_000; // coarse times: plenty of ties
    const type = pick(JOB_TYPES);
    const params = type === 'firmware-update' ? fw : type === 'read-device-properties' ? { timeoutSeconds: 60, paths: ['/3/0/3'] } : type === 'write-device-properties' ? { timeoutSeconds: 60, values: { '/3/0/14': '+02:00' } } : type === 'configuration-update' ? { timeoutSeconds: 60, config: { progressIntervalMs: 500 } } : { timeoutSeconds: 60 };
    const n = 1 + Math.floor(rnd() * 20);
    store.createJob({ JobId: `job-${p}`, Type: type, Parameters: params }, Array.from({ length: n }, (_, i) => ({ DeviceId: `dev-${(p * 7 + i) % 40}` })));
    for (const child of [{ JobId: `job-${p}` }, ...store.children(`job-${p}`)]) {
      const status = pick(JOB_STATUSES) as JobStatus;
      if (status === 'Queued') continue;
      clock += Math.floor(rnd() * 5) * 60_000;
      if (status === 'Running' || rnd() < 0.8) store.update(child.JobId, { Status: 'Running', Progress: Math.floor(rnd() * 100), FirmwareVersionBefore: pick(versions) });
      if (status === 'Running') continue;
      clock += Math.floor(rnd() * 5) * 60_000;
      store.update(child.JobId, { Status: status, TimedOut: status === 'Failed' && rnd() < 0.5, UpdateResult: rnd() < 0.3 ? null : (Math.floor(rnd() * 11) as never), FirmwareVersionAfter: rnd() < 0.3 ? null : pick(versions), ErrorCode: rnd() < 0.5 ? null : pick(['integrity-mismatch', 'no-space', '']) });
    }
  }
}

function randomFilter(rnd: () => number, jobs: readonly JobRecord[], depth = 0): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const r = rnd();
  if (depth < 3 && r < 0.35) return { type: rnd() < 0.5 ? 'and' : 'or', filters: Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => randomFilter(rnd, jobs, depth + 1)) };
  if (depth < 3 && r < 0.45) return { type: 'not', filter: randomFilter(rnd, jobs, depth + 1) };
  const name = pick(Object.keys(QUERY_PROPERTIES)) as PropertyName;
  const def = QUERY_PROPERTIES[name];
  const ordered = def.kind === 'string' || def.kind === 'number' || def.kind === 'time';
  const op = ordered ? pick(['eq', 'ne', 'lt', 'lte', 'gt', 'gte']) : pick(['eq', 'ne']);
  let value: unknown = valueOf(pick(jobs), name); // mostly values that occur, so filters hit
  if (value === null && op !== 'eq' && op !== 'ne') value = def.kind === 'string' ? '2.0' : def.kind === 'time' ? T0 + 300_000 : 5;
  if (def.kind === 'time' && value !== null && rnd() < 0.5) value = new Date(value as number).toISOString();
  return { type: 'comparison', property: { name, type: def.namespace }, comparisonOperator: op, value };
}

function allPages(store: JobStore, query: Record<string, unknown>, size: number): { jobs: JobRecord[]; totals: Set<number>; pages: number } {
  const jobs: JobRecord[] = [];
  const totals = new Set<number>();
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = store.query(parseJobQuery({ ...query, page: cursor === undefined ? { size } : { size, cursor } }));
    jobs.push(...page.jobs);
    totals.add(page.total);
    cursor = page.nextPage;
    pages++;
    expect(pages).toBeLessThan(1000);
  } while (cursor !== undefined);
  return { jobs, totals, pages };
}

describe('queries agree with a brute-force filter', () => {
  it('over random jobs, random filters, random sorts and page sizes', () => {
    const rnd = prng(20240601);
    const store = open();
    populate(store, rnd);
    const all = allPages(store, { sort: 'JobId' }, 1000).jobs;
    expect(all.length).toBeGreaterThan(200);
    const sortable = Object.keys(QUERY_PROPERTIES);
    let nonTrivial = 0;
    for (let i = 0; i < 300; i++) {
      const filter = randomFilter(rnd, all);
      const sort = Array.from({ length: 1 + Math.floor(rnd() * 2) }, () => (rnd() < 0.5 ? '-' : '') + sortable[Math.floor(rnd() * sortable.length)]).filter((k, j, ks) => ks.findIndex((o) => o.replace('-', '') === k.replace('-', '')) === j);
      const parsed = parseJobQuery({ filter, sort });
      const expected = all.filter((j) => matches(j, parsed.filter as JobFilter)).map((j) => j.JobId).sort();
      const got = allPages(store, { filter, sort }, 1 + Math.floor(rnd() * 60));
      const ids = got.jobs.map((j) => j.JobId);
      expect([...ids].sort(), JSON.stringify({ filter, sort })).toEqual(expected);
      expect([...got.totals]).toEqual([expected.length]);
      for (let k = 1; k < got.jobs.length; k++) expect(compareBy(parsed.sort, got.jobs[k - 1] as JobRecord, got.jobs[k] as JobRecord)).toBeLessThanOrEqual(0);
      if (expected.length > 0 && expected.length < all.length) nonTrivial++;
    }
    expect(nonTrivial).toBeGreaterThan(150);
  }, 120_000); // 300 random queries, each paged: ~25 s on a busy 2-core machine; nothing in it depends on time
});

describe('paging', () => {
  it.each([['StartTime'], ['-StartTime'], ['EndTime', '-Status']])('is complete and free of duplicates when sorting by %s with ties and NULLs', (...sort) => {
    const store = open();
    populate(store, prng(7));
    const everything = allPages(store, { sort: 'JobId' }, 1000).jobs;
    const starts = everything.map((j) => j.StartTime);
    expect(new Set(starts).size).toBeLessThan(starts.length / 3); // many ties
    expect(starts).toContain(null);
    for (const size of [1, 7, 50]) {
      const { jobs, pages } = allPages(store, { sort }, size);
      const ids = jobs.map((j) => j.JobId);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort()).toEqual(everything.map((j) => j.JobId).sort());
      expect(pages).toBe(Math.max(1, Math.ceil(ids.length / size)));
    }
  });

  it('shows every earlier job exactly once while new jobs arrive between pages', () => {
    const store = open();
    populate(store, prng(11));
    const before = new Set(allPages(store, { sort: 'JobId' }, 1000).jobs.map((j) => j.JobId));
    const seen: string[] = [];
    let cursor: string | undefined;
    let n = 0;
    do {
      const page = store.query(parseJobQuery({ sort: ['-CreatedTime'], page: cursor === undefined ? { size: 9 } : { size: 9, cursor } }));
      seen.push(...page.jobs.map((j) => j.JobId));
      cursor = page.nextPage;
      clock = T0 + 3_600_000 + n * 1000; // newer than everything: lands before the cursor
      store.createJob({ JobId: `late-${n++}`, Type: 'reboot', Parameters: { timeoutSeconds: 60 } }, devices('x'));
    } while (cursor !== undefined);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => before.has(id)).sort()).toEqual([...before].sort());
  });
});
