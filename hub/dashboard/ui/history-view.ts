// History: the job query language as a form (type, status, result, time range) and as the raw JSON it stands for,
// sorted and paged by the hub; it lists what `fota job list` lists for the same filter (the command is shown).

import { api, HubError } from './api.js';
import { append, field, h, replace, select } from './dom.js';
import { resultText, RESULT_OPTIONS, when } from './format.js';
import { cliEquivalent, formFilter, historyQuery, parseFilterText, type FilterJson, type HistoryForm } from './history-query.js';
import { JOB_STATUSES, JOB_TYPES, type Job, type JobPage } from './types.js';
import type { View } from './view.js';

const SORTS = ['CreatedTime', 'StartTime', 'EndTime', 'JobId', 'DeviceId', 'Status', 'Type', 'UpdateResult', 'Progress'];

/** A datetime-local value (the browser's local time) as ISO 8601 UTC; "" stays "". */
function localToIso(v: string): string {
  if (!v) return '';
  const t = new Date(v);
  return Number.isNaN(t.getTime()) ? '' : t.toISOString();
}

function jobRow(j: Job): HTMLTableRowElement {
  const link = h('a', { attrs: { href: `#jobs/${encodeURIComponent(j.ParentJobId || j.JobId)}` } }, j.JobId);
  return h(
    'tr',
    { attrs: { 'data-job': j.JobId } },
    h('td', { class: 'id' }, link),
    h('td', {}, j.DeviceId || h('span', { class: 'muted' }, 'fleet')),
    h('td', {}, j.Type),
    h('td', {}, h('span', { class: `status ${j.Status.toLowerCase()}` }, j.Status)),
    h('td', {}, resultText(j.UpdateResult)),
    h('td', {}, when(j.CreatedTime)),
    h('td', {}, when(j.EndTime)),
    h('td', { class: j.Status === 'Failed' ? 'bad reason' : 'message' }, j.StatusMessage),
  );
}

export const historyView: View = (root) => {
  const type = select('type', [['', 'any'], ...JOB_TYPES.map((t) => [t, t] as const)], '');
  const status = select('status', [['', 'any'], ...JOB_STATUSES.map((s) => [s, s] as const)], '');
  const result = select('result', [['', 'any'], ['none', 'none (no result)'], ...RESULT_OPTIONS], '');
  const timeField = select('timeField', [['CreatedTime', 'created'], ['StartTime', 'started'], ['EndTime', 'ended']], 'CreatedTime');
  const from = h('input', { attrs: { type: 'datetime-local', name: 'from', step: '1' } });
  const to = h('input', { attrs: { type: 'datetime-local', name: 'to', step: '1' } });
  const all = h('input', { attrs: { type: 'checkbox', name: 'all' } });
  const sortKey = select('sort', SORTS.map((s) => [s, s] as const), 'CreatedTime');
  const order = select('order', [['desc', 'newest / largest first'], ['asc', 'oldest / smallest first']], 'desc');
  const size = select('size', [['25', '25'], ['50', '50'], ['100', '100'], ['500', '500']], '50');
  const json = h('textarea', { attrs: { name: 'filter', rows: '6', spellcheck: 'false', 'aria-label': 'filter as JSON' } });
  const cli = h('code', { class: 'cli' });
  const summary = h('p', { class: 'summary' });
  const error = h('p', { class: 'error', attrs: { role: 'alert' } });
  const body = h('tbody');
  const prev = h('button', { attrs: { type: 'button' } }, 'Previous page');
  const next = h('button', { attrs: { type: 'button' } }, 'Next page');
  /** cursors of the pages before this one ("" = the first) */
  let cursors: string[] = [];
  let cursor = '';
  let nextCursor: string | undefined;
  let seq = 0;

  const form = (): HistoryForm => ({ type: type.value, status: status.value, result: result.value, timeField: timeField.value as HistoryForm['timeField'], from: localToIso(from.value), to: localToIso(to.value) });
  const sort = () => (order.value === 'desc' ? `-${sortKey.value}` : sortKey.value);
  const showForm = () => {
    const f = formFilter(form());
    json.value = f === undefined ? '' : JSON.stringify(f, null, 2);
  };

  const section = h('section', { class: 'history', attrs: { 'aria-busy': 'true' } });
  const run = async () => {
    const my = ++seq;
    // busy from the click until the answer of the latest query is on the page (assistive tools and tests wait on it)
    section.setAttribute('aria-busy', 'true');
    let filter: FilterJson | undefined;
    try {
      filter = parseFilterText(json.value);
    } catch (e) {
      error.textContent = (e as Error).message;
      section.setAttribute('aria-busy', 'false');
      return;
    }
    const opts = { all: all.checked, sort: sort(), size: Number(size.value) };
    cli.textContent = cliEquivalent(filter, { all: opts.all, sort: opts.sort, limit: opts.size });
    try {
      const page = await api<JobPage>('POST', '/v1/jobs/query', historyQuery(filter, cursor ? { ...opts, cursor } : opts));
      if (my !== seq) return;
      error.textContent = '';
      nextCursor = page.nextPage;
      replace(body, ...page.jobs.map(jobRow));
      const at = cursors.length * opts.size;
      summary.textContent = page.total === 0 ? 'no job matches' : `${at + 1}–${at + page.jobs.length} of ${page.total} jobs`;
      next.disabled = nextCursor === undefined;
      prev.disabled = cursors.length === 0;
    } catch (e) {
      if (my !== seq) return;
      error.textContent = e instanceof HubError ? e.message : String(e);
    }
    section.setAttribute('aria-busy', 'false');
  };
  const fresh = () => {
    cursors = [];
    cursor = '';
    void run();
  };
  for (const c of [type, status, result, timeField, from, to]) c.addEventListener('change', () => (showForm(), fresh()));
  for (const c of [all, sortKey, order, size]) c.addEventListener('change', fresh);
  const runJson = h('button', { attrs: { type: 'button', 'data-run': 'json' }, on: { click: fresh } }, 'Run the JSON filter');
  next.addEventListener('click', () => {
    if (nextCursor === undefined) return;
    cursors.push(cursor);
    cursor = nextCursor;
    void run();
  });
  prev.addEventListener('click', () => {
    cursor = cursors.pop() ?? '';
    void run();
  });

  replace(
    root,
    append(
      section,
      h('h2', {}, 'History'),
      h('div', { class: 'filters' }, field('Type', type), field('Status', status), field('Update result', result), field('Time', timeField), field('From', from), field('Until', to)),
      h('div', { class: 'filters' }, field('Sort by', sortKey), field('Order', order), field('Page size', size), h('label', { class: 'check' }, all, ' include device jobs (--all)')),
      h('details', { class: 'raw', attrs: { open: '' } }, h('summary', {}, 'Filter as JSON (the query language, docs/jobs.md)'), json, h('div', { class: 'buttons' }, runJson), h('p', { class: 'muted' }, 'The same with the CLI: ', cli)),
      summary,
      error,
      h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, ...['Job', 'Device', 'Type', 'Status', 'Update result', 'Created', 'Ended', 'Message'].map((t) => h('th', {}, t)))), body),
      h('div', { class: 'pager' }, prev, next),
    ),
  );
  void run();
  return () => undefined;
};
