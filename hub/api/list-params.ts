// GET /v1/jobs?status=Running&type=…&parent=…&device=…&sort=-StartTime&size=50&cursor=… : the query-string
// convenience over POST /v1/jobs/query. Turns the parameters into the query language's JSON form. Pure: no IO.

import { JOB_STATUSES, JOB_TYPES } from '../jobs/job-model.js';
import { MAX_PAGE_SIZE, QueryError } from '../jobs/job-query.js';
import { ApiError } from './api-errors.js';

export const LIST_PARAMS = ['status', 'type', 'parent', 'device', 'sort', 'size', 'cursor'] as const;

function values(params: URLSearchParams, name: string): string[] {
  // repeated parameters and comma lists both mean "any of"
  return params.getAll(name).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

function anyOf(property: string, list: string[]): unknown {
  const cmp = (value: string) => ({ type: 'comparison', property, comparisonOperator: 'eq', value });
  return list.length === 1 ? cmp(list[0] as string) : { type: 'or', filters: list.map(cmp) };
}

function checkEnum(name: string, list: string[], allowed: readonly string[]): void {
  for (const v of list) if (!allowed.includes(v)) throw new QueryError(name, `takes one of ${allowed.join(', ')} (got '${v}')`);
}

/**
 * The query (raw JSON form, for parseJobQuery) that the list parameters describe. `parent=` (empty) selects
 * fleet jobs (parents) only; `parent=ID` the children of ID.
 * Throws ApiError invalid-request for an unknown parameter, QueryError (named after the parameter) for a bad value.
 */
export function listParamsToQuery(params: URLSearchParams): Record<string, unknown> {
  for (const name of new Set(params.keys())) {
    if (!(LIST_PARAMS as readonly string[]).includes(name)) {
      throw new ApiError(400, 'invalid-request', `unknown query parameter "${name}" (use ${LIST_PARAMS.join(', ')}; POST /v1/jobs/query takes full filters)`);
    }
  }
  const filters: unknown[] = [];
  const status = values(params, 'status');
  checkEnum('status', status, JOB_STATUSES);
  if (status.length > 0) filters.push(anyOf('Status', status));
  const type = values(params, 'type');
  checkEnum('type', type, JOB_TYPES);
  if (type.length > 0) filters.push(anyOf('Type', type));
  if (params.has('parent')) {
    // not split on commas and not dropped when empty: "" means parents only
    filters.push(anyOf('ParentJobId', params.getAll('parent')));
  }
  const device = values(params, 'device');
  if (device.length > 0) filters.push(anyOf('DeviceId', device));

  const query: Record<string, unknown> = {};
  if (filters.length === 1) query['filter'] = filters[0];
  else if (filters.length > 1) query['filter'] = { type: 'and', filters };
  const sort = values(params, 'sort');
  if (sort.length > 0) query['sort'] = sort;
  const page: Record<string, unknown> = {};
  const size = params.get('size');
  if (size !== null) {
    if (!/^\d{1,7}$/.test(size)) throw new QueryError('size', `must be an integer 1..${MAX_PAGE_SIZE} (got '${size}')`);
    page['size'] = Number(size);
  }
  const cursor = params.get('cursor');
  if (cursor !== null && cursor !== '') page['cursor'] = cursor;
  if (Object.keys(page).length > 0) query['page'] = page;
  return query;
}
