// Argument parsing of the `fota job …` commands: device lists, KEY=VALUE sets, rollout parameters and the query
// of `fota job list`, checked locally so bad input fails with a usage error (exit 2) before any request.

import type { JsonValue } from '../protocol/messages.js';
import { isValidEndpoint } from '../protocol/topics.js';
import { DEFAULT_FIRMWARE_TIMEOUT_SECONDS, DEFAULT_TIMEOUT_SECONDS, type JobQueryJson } from '../hub/job-client.js';
import { JOB_STATUSES, JOB_TYPES, type JobParameters, type JobType } from '../hub/jobs/job-model.js';
import { parseJobQuery, QueryError } from '../hub/jobs/job-query.js';
import { parseDuration, readArgFile, str, strs, usageError, type Parsed } from './command.js';
import { truncate } from './job-table.js';

/** The text of a file named by an "@FILE" argument; throws a usage error naming `what`. */
/** Device ids from every --devices: "a,b,c" or "@file" (one id per line; blank lines and # comments skipped). */
export function parseDevices(values: string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    if (v.startsWith('@')) {
      readArgFile('the device list', v.slice(1)).split(/\r?\n/).forEach((line, i) => {
        const id = line.replace(/#.*/, '').trim();
        if (id === '') return;
        if (!isValidEndpoint(id)) throw usageError(`${v.slice(1)}:${i + 1}: "${truncate(id, 60)}" is not a valid device id`);
        out.push(id);
      });
    } else {
      for (const id of v.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
        if (!isValidEndpoint(id)) throw usageError(`"${truncate(id, 60)}" is not a valid device id (1-128 characters A-Z a-z 0-9 . _ : -)`);
        out.push(id);
      }
    }
  }
  if (out.length === 0) throw usageError('--devices is required: a,b,c or @file with one device id per line');
  return out;
}

/** "KEY=VALUE" pairs into an object; VALUE is JSON when it parses (42, true, {"a":1}), else the text itself. */
export function parseSets(values: string[], what: string): Record<string, JsonValue> {
  if (values.length === 0) throw usageError(`--set ${what}=VALUE is required (repeat it for more)`);
  const out: Record<string, JsonValue> = {};
  for (const s of values) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw usageError(`--set "${s}" must be ${what}=VALUE`);
    const text = s.slice(eq + 1);
    let value: JsonValue;
    try {
      value = JSON.parse(text) as JsonValue;
    } catch {
      value = text;
    }
    out[s.slice(0, eq)] = value;
  }
  return out;
}

/** A whole-number option, or undefined when absent; throws a usage error naming the option. */
export function intOpt(args: Parsed, name: string): number | undefined {
  const v = str(args.values[name]);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw usageError(`--${name} must be a whole number (got "${v}")`);
  return Number(v);
}

/** The job parameters from the rollout options (--timeout, --max-in-flight, --abort-failure-ratio) and `own`. */
export function parameters(args: Parsed, type: JobType, own: Partial<JobParameters>): JobParameters {
  const t = str(args.values.timeout);
  const timeoutSeconds = t === undefined ? (type === 'firmware-update' ? DEFAULT_FIRMWARE_TIMEOUT_SECONDS : DEFAULT_TIMEOUT_SECONDS) : Math.ceil(parseDuration(t, '--timeout'));
  const p: JobParameters = { ...own, timeoutSeconds };
  if (args.values['wait-for-devices'] === true) p.waitForDevices = true;
  const max = intOpt(args, 'max-in-flight');
  if (max !== undefined) p.maxInFlight = max;
  const ratio = str(args.values['abort-failure-ratio']);
  if (ratio !== undefined) {
    if (!/^\d*\.?\d+$/.test(ratio)) throw usageError(`--abort-failure-ratio must be a number 0..1 (got "${ratio}")`);
    p.abortFailureRatio = Number(ratio);
  }
  return p;
}

function matchEnum(list: readonly string[], v: string, what: string): string {
  const hit = list.find((x) => x.toLowerCase() === v.toLowerCase());
  if (!hit) throw usageError(`${what} "${v}" is not one of ${list.join(', ')}`);
  return hit;
}

/** The query `fota job list` sends, checked locally so a bad --filter or --sort fails before any request. */
export function listQuery(args: Parsed): JobQueryJson {
  const filters: unknown[] = [];
  if (args.values.all !== true) filters.push({ type: 'comparison', property: 'ParentJobId', comparisonOperator: 'eq', value: '' });
  const anyOf = (property: string, vs: string[]) => {
    const cmps = vs.map((value) => ({ type: 'comparison', property, comparisonOperator: 'eq', value }));
    if (cmps.length > 0) filters.push(cmps.length === 1 ? cmps[0] : { type: 'or', filters: cmps });
  };
  const split = (name: string) => strs(args.values[name]).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  anyOf('Status', split('status').map((s) => matchEnum(JOB_STATUSES, s, '--status')));
  anyOf('Type', split('type').map((t) => matchEnum(JOB_TYPES, t, '--type')));
  const f = str(args.values.filter);
  if (f !== undefined) {
    const text = f.startsWith('@') ? readArgFile('the --filter file', f.slice(1)) : f;
    let filter: unknown;
    try {
      filter = JSON.parse(text);
    } catch (e) {
      throw usageError(`--filter is not valid JSON: ${(e as Error).message}`, `example: --filter '{"type":"comparison","property":"DeviceId","comparisonOperator":"eq","value":"sim-1"}'`);
    }
    // both shapes: a filter, or a query wrapping one ({"filter": …}, as the API and docs/jobs.md write it)
    if (typeof filter === 'object' && filter !== null && !Array.isArray(filter) && !('type' in filter) && 'filter' in filter) {
      const extra = Object.keys(filter).filter((k) => k !== 'filter');
      if (extra.length > 0) throw usageError(`--filter takes a filter or {"filter": …}; ${extra.join(', ')} belong${extra.length === 1 ? 's' : ''} to other options (--sort, --limit)`);
      filter = (filter as { filter: unknown }).filter;
    }
    try {
      parseJobQuery({ filter });
    } catch (e) {
      if (e instanceof QueryError) throw usageError(`--filter: ${e.message}`, 'the query language: docs/jobs.md');
      throw e;
    }
    filters.push(filter);
  }
  const query: Record<string, unknown> = {};
  if (filters.length > 0) query['filter'] = filters.length === 1 ? filters[0] : { type: 'and', filters };
  const sort = split('sort');
  if (sort.length > 0) query['sort'] = sort;
  try {
    parseJobQuery(query);
  } catch (e) {
    if (e instanceof QueryError) throw usageError(e.path.startsWith('sort') ? `--sort: ${e.message.slice(e.path.length + 2)}` : e.message);
    throw e;
  }
  return query as JobQueryJson;
}
