// The SQL of a checked job query (job-query.ts): a WHERE over the jobs table, a total ORDER BY, and keyset paging
// after a cursor. Pure: no IO. Only whitelisted column names and `?` placeholders reach the SQL: no user text.

import { QUERY_PROPERTIES, type Cursor, type FilterValue, type JobFilter, type JobQuery, type Operator, type PropertyDef } from './job-query.js';

const PROPS: Readonly<Record<string, PropertyDef>> = QUERY_PROPERTIES;
const SQL_OP: Record<Operator, string> = { eq: '=', ne: '<>', lt: '<', lte: '<=', gt: '>', gte: '>=' };

export interface SqlParts {
  /** a boolean SQL expression over the jobs table; "1" without a filter */
  where: string;
  params: unknown[];
  /** ORDER BY list, always ending in the unique `seq` so the order is total */
  orderBy: string;
  /** "rows after the cursor" (AND it to `where` for the page, leave it out of the count) */
  seek?: { sql: string; params: unknown[] };
  /** page size + 1: the extra row says whether there is a next page */
  limit: number;
}

const sqlValue = (v: FilterValue): unknown => (typeof v === 'boolean' ? (v ? 1 : 0) : v);

// Two-valued logic: every comparison yields 0 or 1, never NULL, so `not` is the exact complement.
// A NULL column matches only `eq null` and `ne <anything but null>`.
function comparisonSql(f: Extract<JobFilter, { type: 'comparison' }>, params: unknown[]): string {
  const def = PROPS[f.property] as PropertyDef;
  const col = def.column;
  if (f.value === null) return f.operator === 'eq' ? `${col} IS NULL` : `${col} IS NOT NULL`;
  params.push(sqlValue(f.value));
  const base = `${col} ${SQL_OP[f.operator]} ?`;
  if (!def.nullable) return base;
  return f.operator === 'ne' ? `(${base} OR ${col} IS NULL)` : `(${base} AND ${col} IS NOT NULL)`;
}

function filterSql(f: JobFilter, params: unknown[]): string {
  if (f.type === 'comparison') return comparisonSql(f, params);
  if (f.type === 'not') return `NOT (${filterSql(f.filter, params)})`;
  return `(${f.filters.map((x) => filterSql(x, params)).join(f.type === 'and' ? ' AND ' : ' OR ')})`;
}

// Keyset paging with NULLs: SQLite sorts NULL first ascending and last descending. Row r comes after the
// cursor c when, for some key i, r equals c on keys before i and lies after c on key i.
function seekSql(query: JobQuery, after: Cursor): { sql: string; params: unknown[] } {
  const keys = query.sort.map((k, i) => ({ ...(PROPS[k.property] as PropertyDef), desc: k.order === 'desc', value: after.keys[i] ?? null }));
  const lastDesc = keys[keys.length - 1]?.desc ?? false;
  keys.push({ column: 'seq', kind: 'number', namespace: 'default', nullable: false, desc: lastDesc, value: after.seq });
  const params: unknown[] = [];
  const terms: string[] = [];
  keys.forEach((key, i) => {
    const p: unknown[] = [];
    const parts: string[] = [];
    for (const prev of keys.slice(0, i)) {
      if (prev.value === null) parts.push(`${prev.column} IS NULL`);
      else (parts.push(`${prev.column} = ?`), p.push(prev.value));
    }
    if (key.value === null) {
      if (key.desc) return; // nothing sorts after NULL when descending
      parts.push(`${key.column} IS NOT NULL`);
    } else {
      p.push(key.value);
      const cmp = `${key.column} ${key.desc ? '<' : '>'} ?`;
      parts.push(key.desc && key.nullable ? `(${cmp} OR ${key.column} IS NULL)` : cmp);
    }
    terms.push(`(${parts.join(' AND ')})`);
    params.push(...p);
  });
  return { sql: terms.length === 0 ? '0' : `(${terms.join(' OR ')})`, params };
}

/** The SQL for a checked query. Only whitelisted column names and `?` placeholders: no user text in the SQL. */
export function toSql(query: JobQuery): SqlParts {
  const params: unknown[] = [];
  const where = query.filter ? filterSql(query.filter, params) : '1';
  const last = query.sort[query.sort.length - 1];
  const orderBy = [...query.sort.map((k) => `${(PROPS[k.property] as PropertyDef).column} ${k.order === 'desc' ? 'DESC' : 'ASC'}`), `seq ${last?.order === 'desc' ? 'DESC' : 'ASC'}`].join(', ');
  const out: SqlParts = { where, params, orderBy, limit: query.page.size + 1 };
  if (query.page.after) out.seek = seekSql(query, query.page.after);
  return out;
}
