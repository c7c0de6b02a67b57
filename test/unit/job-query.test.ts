// The job query language: parsing, validation errors (with their paths), and the SQL it produces.
// Pure: no database here (test/integration/job-store.test.ts runs the SQL against SQLite).

import { describe, expect, it } from 'vitest';
import { parseIsoTime } from '../../hub/jobs/job-model.js';
import { encodeCursor, parseJobQuery, QUERY_PROPERTIES, QueryError, type JobQuery } from '../../hub/jobs/job-query.js';
import { toSql } from '../../hub/jobs/job-query-sql.js';

const cmp = (name: string, op: string, value: unknown, type = 'default') => ({
  type: 'comparison', property: { name, type }, value, comparisonOperator: op,
});
const sqlOf = (filter: unknown) => {
  const { where, params } = toSql(parseJobQuery({ filter }));
  return { where, params };
};
const T = Date.UTC(2024, 5, 1, 12, 0, 0);

describe('comparisons: every operator, every kind of property', () => {
  const cases: [string, unknown, string, unknown[]][] = [
    ['enum eq', cmp('Status', 'eq', 'Running'), 'status = ?', ['Running']],
    ['enum ne', cmp('Type', 'ne', 'reboot'), 'type <> ?', ['reboot']],
    ['string lt', cmp('DeviceId', 'lt', 'm'), 'device_id < ?', ['m']],
    ['string lte', cmp('JobId', 'lte', 'fw~z'), 'job_id <= ?', ['fw~z']],
    ['string gt', cmp('ParentJobId', 'gt', ''), 'parent_job_id > ?', ['']],
    ['string gte', cmp('StatusMessage', 'gte', 'a'), 'status_message >= ?', ['a']],
    ['number eq', cmp('Progress', 'eq', 100), 'progress = ?', [100]],
    ['number gte', cmp('Progress', 'gte', 50), 'progress >= ?', [50]],
    ['boolean eq true', cmp('TimedOut', 'eq', true), 'timed_out = ?', [1]],
    ['boolean ne false', cmp('TimedOut', 'ne', false), 'timed_out <> ?', [0]],
    ['time ISO lt on a non-null column', cmp('CreatedTime', 'lt', '2024-06-01T12:00:00Z'), 'created_time < ?', [T]],
    ['time epoch ms', cmp('CreatedTime', 'gte', T), 'created_time >= ?', [T]],
    ['nullable eq: false on NULL', cmp('StartTime', 'eq', '2024-06-01T14:00:00+02:00'), '(start_time = ? AND start_time IS NOT NULL)', [T]],
    ['nullable ne: true on NULL', cmp('EndTime', 'ne', T), '(end_time <> ? OR end_time IS NULL)', [T]],
    ['nullable lt', cmp('StartTime', 'lt', T), '(start_time < ? AND start_time IS NOT NULL)', [T]],
    ['nullable lte', cmp('EndTime', 'lte', T), '(end_time <= ? AND end_time IS NOT NULL)', [T]],
    ['nullable gt', cmp('UpdateResult', 'gt', 1, 'result'), '(update_result > ? AND update_result IS NOT NULL)', [1]],
    ['nullable gte', cmp('FirmwareVersionAfter', 'gte', '2.0', 'result'), '(firmware_version_after >= ? AND firmware_version_after IS NOT NULL)', ['2.0']],
    ['eq null', cmp('StartTime', 'eq', null), 'start_time IS NULL', []],
    ['ne null', cmp('ErrorCode', 'ne', null, 'result'), 'error_code IS NOT NULL', []],
    ['property as a plain name', { type: 'comparison', property: 'Status', value: 'Failed', comparisonOperator: 'eq' }, 'status = ?', ['Failed']],
    ['property type omitted = default', { type: 'comparison', property: { name: 'Status' }, value: 'Failed', comparisonOperator: 'eq' }, 'status = ?', ['Failed']],
    // docs/jobs.md: a missing type is the name's own (names are unique), so a result property needs none either
    ['property type omitted on a result property', { type: 'comparison', property: { name: 'UpdateResult' }, value: 8, comparisonOperator: 'eq' }, '(update_result = ? AND update_result IS NOT NULL)', [8]],
  ];
  it.each(cases)('%s', (_name, filter, where, params) => {
    expect(sqlOf(filter)).toEqual({ where, params });
  });
});

describe('and / or / not nesting', () => {
  it('nests in order, parameters in the order of their placeholders', () => {
    const filter = {
      type: 'and',
      filters: [
        cmp('Type', 'eq', 'firmware-update'),
        { type: 'or', filters: [cmp('Status', 'eq', 'Failed'), { type: 'not', filter: cmp('Progress', 'lt', 10) }] },
      ],
    };
    expect(sqlOf(filter)).toEqual({ where: '(type = ? AND (status = ? OR NOT (progress < ?)))', params: ['firmware-update', 'Failed', 10] });
  });
  it('accepts exactly 16 levels and 256 nodes', () => {
    let f: unknown = cmp('Progress', 'eq', 1);
    for (let i = 1; i < 16; i++) f = { type: 'not', filter: f };
    expect(() => parseJobQuery({ filter: f })).not.toThrow();
    const wide = { type: 'or', filters: Array.from({ length: 255 }, (_, i) => cmp('Progress', 'eq', i % 101)) };
    expect(toSql(parseJobQuery({ filter: wide })).params).toHaveLength(255);
  });
});

const thrown = (input: unknown): QueryError => {
  try {
    parseJobQuery(input);
  } catch (e) {
    if (e instanceof QueryError) return e;
    throw new Error(`expected a QueryError, got ${String(e)}`);
  }
  throw new Error('expected a QueryError, nothing was thrown');
};

describe('bad input: a QueryError naming the part, never a crash', () => {
  let deep: unknown = cmp('Progress', 'eq', 1);
  for (let i = 0; i < 16; i++) deep = { type: 'not', filter: deep };
  const cases: [string, unknown, string, RegExp][] = [
    ['unknown operator', { filter: { type: 'and', filters: [cmp('Status', 'eq', 'Running'), cmp('Status', 'like', 'R%')] } }, 'filter.filters[1].comparisonOperator', /unknown operator 'like' \(use eq, ne, lt, lte, gt, gte\)/],
    ['unknown property', { filter: cmp('Colour', 'eq', 'red') }, 'filter.property.name', /unknown property 'Colour' \(use JobId, /],
    ['prototype name', { filter: cmp('constructor', 'eq', 'x') }, 'filter.property.name', /unknown property/],
    ['__proto__ name', { filter: cmp('__proto__', 'eq', 'x') }, 'filter.property.name', /unknown property/],
    ['wrong property type', { filter: cmp('UpdateResult', 'eq', 1, 'default') }, 'filter.property.type', /'result' property/],
    ['unknown property type', { filter: cmp('Status', 'eq', 'Running', 'twin') }, 'filter.property.type', /unknown property type 'twin'/],
    ['Values is not filterable', { filter: cmp('Values', 'eq', 'x') }, 'filter.property.name', /unknown property/],
    ['string for a number', { filter: cmp('Progress', 'gt', '50') }, 'filter.value', /Progress takes a number \(got '50'\)/],
    ['NaN-like number', { filter: cmp('Progress', 'gt', Number.NaN) }, 'filter.value', /takes a number/],
    ['number for a string', { filter: cmp('DeviceId', 'eq', 7) }, 'filter.value', /DeviceId takes a string/],
    ['unknown enum value', { filter: cmp('Status', 'eq', 'running') }, 'filter.value', /Status takes one of Queued, Running, Completed, Failed, Cancelled \(got 'running'\)/],
    ['string for a boolean', { filter: cmp('TimedOut', 'eq', 'true') }, 'filter.value', /true or false/],
    ['time without zone', { filter: cmp('StartTime', 'gt', '2024-06-01T12:00:00') }, 'filter.value', /ISO 8601 time with a zone/],
    ['impossible date', { filter: cmp('StartTime', 'gt', '2024-02-30T00:00:00Z') }, 'filter.value', /ISO 8601/],
    ['fractional epoch ms', { filter: cmp('CreatedTime', 'gt', 1.5) }, 'filter.value', /ISO 8601/],
    ['ordering on an enum', { filter: cmp('Status', 'lt', 'Running') }, 'filter.comparisonOperator', /'lt' does not apply to Status \(use eq or ne\)/],
    ['ordering on a boolean', { filter: cmp('TimedOut', 'gte', true) }, 'filter.comparisonOperator', /does not apply to TimedOut/],
    ['null with lt', { filter: cmp('StartTime', 'lt', null) }, 'filter.value', /null only works with eq and ne/],
    ['null on a non-null column', { filter: cmp('Status', 'eq', null) }, 'filter.value', /Status is never null/],
    ['missing value', { filter: { type: 'comparison', property: 'Status', comparisonOperator: 'eq' } }, 'filter.value', /missing/],
    ['long string', { filter: cmp('DeviceId', 'eq', 'x'.repeat(1025)) }, 'filter.value', /longer than 1024/],
    ['unknown filter type', { filter: { type: 'xor', filters: [] } }, 'filter.type', /unknown filter type 'xor'/],
    ['empty and', { filter: { type: 'and', filters: [] } }, 'filter.filters', /non-empty array/],
    ['filters not an array', { filter: { type: 'or', filters: { a: 1 } } }, 'filter.filters', /non-empty array/],
    ['not without filter', { filter: { type: 'not' } }, 'filter.filter', /must be a filter object/],
    ['extra key in comparison', { filter: { ...cmp('Status', 'eq', 'Running'), operator: 'eq' } }, 'filter.operator', /unknown key/],
    ['a filter that is a string', { filter: 'Status eq Running' }, 'filter', /must be a filter object/],
    ['too deep (17 levels)', { filter: deep }, 'filter' + '.filter'.repeat(16), /deeper than 16 levels/],
    ['too many nodes', { filter: { type: 'or', filters: Array.from({ length: 256 }, () => cmp('Progress', 'eq', 1)) } }, 'filter.filters[255]', /more than 256 filter nodes/],
    ['unknown top-level key', { filtr: {} }, 'query.filtr', /unknown key/],
    ['not an object', [1, 2], 'query', /must be an object/],
    ['not JSON', '{"filter":', 'query', /not valid JSON/],
    ['unknown sort property', { sort: [{ property: 'Colour', order: 'asc' }] }, 'sort[0].property', /unknown property 'Colour'/],
    ['bad sort order', { sort: [{ property: 'StartTime', order: 'up' }] }, 'sort[0].order', /asc or desc/],
    ['sort key twice', { sort: ['StartTime', '-StartTime'] }, 'sort[1]', /sorted on twice/],
    ['too many sort keys', { sort: ['Status', 'Type', 'StartTime', 'EndTime', 'JobId'] }, 'sort', /at most 4/],
    ['sort string with injection', { sort: 'StartTime; DROP TABLE jobs' }, 'sort', /unknown property/],
    ['page size 0', { page: { size: 0 } }, 'page.size', /1\.\.1000 \(got 0\)/],
    ['page size 1001', { page: { size: 1001 } }, 'page.size', /1\.\.1000/],
    ['page size fractional', { page: { size: 2.5 } }, 'page.size', /integer/],
    ['page size as string', { page: { size: '50' } }, 'page.size', /integer/],
    ['page offset (unsupported)', { page: { size: 10, offset: 20 } }, 'page.offset', /unknown key/],
    ['garbage cursor', { page: { cursor: '%%%not-base64' } }, 'page.cursor', /not a cursor/],
    ['cursor that is a number', { page: { cursor: 12 } }, 'page.cursor', /nextPage string/],
  ];
  it.each(cases)('%s', (_name, input, path, message) => {
    const e = thrown(input);
    expect(e.path).toBe(path);
    expect(e.message).toMatch(message);
    expect(e.message.startsWith(`${path}: `)).toBe(true);
  });

  it('random junk never escapes as anything but a QueryError (seeded fuzz)', () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const atoms = [null, undefined, 0, -1, 1e308, '', 'Status', 'eq', 'and', 'not', 'comparison', true, [], {}, '__proto__'];
    const junk = (d: number): unknown => {
      const r = rnd();
      if (d > 4 || r < 0.3) return atoms[Math.floor(rnd() * atoms.length)];
      if (r < 0.5) return Array.from({ length: Math.floor(rnd() * 3) }, () => junk(d + 1));
      const keys = ['type', 'filters', 'filter', 'property', 'name', 'value', 'comparisonOperator', 'sort', 'page', 'size', 'cursor', 'order'];
      return Object.fromEntries(Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => [keys[Math.floor(rnd() * keys.length)], junk(d + 1)]));
    };
    let errors = 0;
    for (let i = 0; i < 2000; i++) {
      const input = { filter: junk(0), sort: rnd() < 0.2 ? junk(2) : undefined, page: rnd() < 0.2 ? junk(2) : undefined };
      try {
        toSql(parseJobQuery(input));
      } catch (e) {
        expect(e).toBeInstanceOf(QueryError);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(1000);
  });
});

describe('injection attempts are refused or carried as data', () => {
  it('refuses a property name with SQL in it', () => {
    expect(thrown({ filter: cmp('Status; DROP TABLE jobs', 'eq', 'Running') }).path).toBe('filter.property.name');
    expect(thrown({ filter: cmp('status', 'eq', 'Running') }).path).toBe('filter.property.name');
  });
  it('carries a quoting value as a parameter, never in the SQL', () => {
    const evil = "x' OR '1'='1";
    const { where, params } = sqlOf(cmp('DeviceId', 'eq', evil));
    expect(where).toBe('device_id = ?');
    expect(params).toEqual([evil]);
  });
  it('produces SQL built only from whitelisted columns, operators and placeholders', () => {
    const columns = Object.values(QUERY_PROPERTIES).map((p) => p.column);
    const words = new Set([...columns, 'seq', 'AND', 'OR', 'NOT', 'IS', 'NULL', 'ASC', 'DESC', '?', '=', '<>', '<', '<=', '>', '>=', '(', ')', '0', '1', ',']);
    const q = parseJobQuery({
      filter: { type: 'or', filters: [cmp('DeviceId', 'eq', "'; DROP TABLE jobs; --"), { type: 'not', filter: cmp('StartTime', 'lt', T) }, cmp('EndTime', 'ne', null)] },
      sort: ['-StartTime', 'DeviceId'],
    });
    const cursor = encodeCursor(q, { start_time: null, device_id: "a' --", seq: 9 });
    const sql = toSql(parseJobQuery({ filter: { type: 'not', filter: cmp('Progress', 'eq', 1) }, sort: ['-StartTime', 'DeviceId'], page: { cursor } }));
    for (const text of [toSql(q).where, toSql(q).orderBy, sql.where, sql.orderBy, sql.seek?.sql ?? '']) {
      for (const token of text.split(/\s+|(?=[(),])|(?<=[(),])/).filter(Boolean)) expect(words).toContain(token);
    }
    expect(sql.seek?.params).toContain("a' --");
  });
});

describe('sort and paging', () => {
  it('defaults: newest created first, 50 per page, seq as the last tie-breaker', () => {
    const q = parseJobQuery({});
    expect(q).toEqual({ sort: [{ property: 'CreatedTime', order: 'desc' }], page: { size: 50 } });
    expect(toSql(q)).toEqual({ where: '1', params: [], orderBy: 'created_time DESC, seq DESC', limit: 51 });
  });
  it.each([
    ['StartTime', [{ property: 'StartTime', order: 'asc' }], 'start_time ASC, seq ASC'],
    ['-StartTime', [{ property: 'StartTime', order: 'desc' }], 'start_time DESC, seq DESC'],
    [['Status', '-EndTime'], [{ property: 'Status', order: 'asc' }, { property: 'EndTime', order: 'desc' }], 'status ASC, end_time DESC, seq DESC'],
    [[{ property: 'Progress' }], [{ property: 'Progress', order: 'asc' }], 'progress ASC, seq ASC'],
    [[], [{ property: 'CreatedTime', order: 'desc' }], 'created_time DESC, seq DESC'],
  ])('sort %j', (sort, keys, orderBy) => {
    const q = parseJobQuery({ sort });
    expect(q.sort).toEqual(keys);
    expect(toSql(q).orderBy).toBe(orderBy);
  });
  it('takes a cursor back only with the sort it was made for', () => {
    const q = parseJobQuery({ sort: '-StartTime', page: { size: 2 } });
    const cursor = encodeCursor(q, { start_time: T, seq: 7 });
    expect(parseJobQuery({ sort: '-StartTime', page: { size: 2, cursor } }).page.after).toEqual({ keys: [T], seq: 7 });
    expect(thrown({ sort: 'StartTime', page: { cursor } }).message).toMatch(/was made for sort 'StartTime:desc'.*use the same sort/);
  });
  it('refuses a tampered cursor', () => {
    const forged = (body: unknown) => Buffer.from(JSON.stringify(body)).toString('base64url');
    expect(thrown({ sort: 'StartTime', page: { cursor: forged({ s: 'StartTime:asc', k: ['1 OR 1=1'], q: 1 }) } }).message).toMatch(/damaged \(bad value for StartTime\)/);
    expect(thrown({ sort: 'Status', page: { cursor: forged({ s: 'Status:asc', k: [null], q: 1 }) } }).message).toMatch(/damaged/);
    expect(thrown({ sort: 'Status', page: { cursor: forged({ s: 'Status:asc', k: [], q: 1 }) } }).message).toMatch(/wrong number of keys/);
    expect(thrown({ sort: 'Status', page: { cursor: forged({ s: 'Status:asc', k: ['Queued'], q: 'x' }) } }).message).toMatch(/not a cursor/);
  });
  it('seeks past NULLs the way SQLite orders them (first ascending, last descending)', () => {
    const seek = (sort: string, key: number | null) => {
      const q: JobQuery = parseJobQuery({ sort });
      return toSql(parseJobQuery({ sort, page: { cursor: encodeCursor(q, { start_time: key, seq: 5 }) } })).seek;
    };
    expect(seek('StartTime', null)).toEqual({ sql: '((start_time IS NOT NULL) OR (start_time IS NULL AND seq > ?))', params: [5] });
    expect(seek('StartTime', T)).toEqual({ sql: '((start_time > ?) OR (start_time = ? AND seq > ?))', params: [T, T, 5] });
    expect(seek('-StartTime', null)).toEqual({ sql: '((start_time IS NULL AND seq < ?))', params: [5] });
    expect(seek('-StartTime', T)).toEqual({ sql: '(((start_time < ? OR start_time IS NULL)) OR (start_time = ? AND seq < ?))', params: [T, T, 5] });
  });
});

describe('ISO 8601 times', () => {
  it.each([
    ['2024-06-01', Date.UTC(2024, 5, 1)],
    ['2024-06-01T12:00Z', T],
    ['2024-06-01T12:00:00.5Z', T + 500],
    ['2024-06-01T12:00:00.123456Z', T + 123],
    ['2024-06-01T13:30:00+01:30', T],
    ['2024-06-01T10:00:00-02:00', T],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['2023-02-29T00:00:00Z', undefined],
    ['2024-06-01T24:00:00Z', undefined],
    ['2024-06-01 12:00:00Z', undefined],
    ['2024-06-01T12:00:00+24:00', undefined],
    ['0050-01-01T00:00:00Z', undefined],
    ['1717243200000', undefined],
    ['yesterday', undefined],
  ])('%s', (text, ms) => {
    expect(parseIsoTime(text)).toBe(ms);
  });
});
