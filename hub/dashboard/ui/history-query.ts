// The History view's query: the form's filter in the job query language (docs/jobs.md), the raw JSON text the
// operator may edit instead, and the query sent to POST /v1/jobs/query, built the way `fota job list` builds it
// (cli/job-args.ts listQuery: fleet jobs only unless --all, the filter ANDed on) so both list the same jobs. Pure.

export type FilterJson = Record<string, unknown>;

export interface HistoryForm {
  /** a job type, or "" for any */
  type: string;
  /** a job status, or "" for any */
  status: string;
  /** an Update Result 0..10, "none" (no result), or "" for any */
  result: string;
  timeField: 'CreatedTime' | 'StartTime' | 'EndTime';
  /** ISO 8601 times (UTC), or "" for an open end */
  from: string;
  to: string;
}

const cmp = (property: string, comparisonOperator: string, value: unknown): FilterJson => ({ type: 'comparison', property, comparisonOperator, value });

/** The filter the form describes; undefined when it selects every job. */
export function formFilter(f: HistoryForm): FilterJson | undefined {
  const parts: FilterJson[] = [];
  if (f.type) parts.push(cmp('Type', 'eq', f.type));
  if (f.status) parts.push(cmp('Status', 'eq', f.status));
  if (f.result === 'none') parts.push(cmp('UpdateResult', 'eq', null));
  else if (f.result !== '') parts.push(cmp('UpdateResult', 'eq', Number(f.result)));
  if (f.from) parts.push(cmp(f.timeField, 'gte', f.from));
  if (f.to) parts.push(cmp(f.timeField, 'lt', f.to));
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : { type: 'and', filters: parts };
}

/**
 * The filter in `text` as `fota job list --filter` takes it: a filter, or a query wrapping one ({"filter": …});
 * undefined for blank text. Throws Error with a readable message for anything else.
 */
export function parseFilterText(text: string): FilterJson | undefined {
  if (text.trim() === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`the filter is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('the filter must be a JSON object such as {"type":"comparison","property":"Status","comparisonOperator":"eq","value":"Failed"}');
  const o = v as FilterJson;
  if (!('type' in o) && 'filter' in o) {
    const extra = Object.keys(o).filter((k) => k !== 'filter');
    if (extra.length > 0) throw new Error(`{"filter": …} may hold nothing else (${extra.join(', ')}: use the sort and page controls)`);
    return o['filter'] as FilterJson;
  }
  return o;
}

export interface HistoryOptions {
  /** device jobs (children) too, like `fota job list --all` */
  all: boolean;
  /** a sort key as --sort takes it ("-CreatedTime"), "" for the default */
  sort: string;
  size: number;
  cursor?: string;
}

/** The body of POST /v1/jobs/query: what `fota job list [--all] --filter F --sort S` sends for the same page. */
export function historyQuery(filter: FilterJson | undefined, o: HistoryOptions): FilterJson {
  const filters: FilterJson[] = [];
  if (!o.all) filters.push(cmp('ParentJobId', 'eq', ''));
  if (filter !== undefined) filters.push(filter);
  const query: FilterJson = {};
  if (filters.length > 0) query['filter'] = filters.length === 1 ? filters[0] : { type: 'and', filters };
  if (o.sort) query['sort'] = [o.sort];
  query['page'] = o.cursor ? { size: o.size, cursor: o.cursor } : { size: o.size };
  return query;
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The `fota job list` command that lists the same jobs (the first `limit`). */
export function cliEquivalent(filter: FilterJson | undefined, o: Omit<HistoryOptions, 'cursor' | 'size'> & { limit: number }): string {
  const parts = ['fota job list'];
  if (o.all) parts.push('--all');
  if (filter !== undefined) parts.push('--filter', shellQuote(JSON.stringify(filter)));
  if (o.sort) parts.push(o.sort.startsWith('-') ? `--sort=${o.sort}` : `--sort ${o.sort}`);
  parts.push('--limit', String(o.limit));
  return parts.join(' ');
}
