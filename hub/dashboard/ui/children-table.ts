// The device jobs (children) of one fleet job, a page at a time (POST /v1/jobs/query), each row replaced in place
// when the hub pushes its change: state, download progress, and why it failed.

import { api, HubError } from './api.js';
import { bar, field, h, replace, select } from './dom.js';
import { resultText, when } from './format.js';
import { cancelJob, isTerminal } from './job-card.js';
import { JOB_STATUSES, type Job, type JobPage } from './types.js';

const PAGE = 100;

function childRow(c: Job, error: HTMLElement): HTMLTableRowElement {
  const failed = c.Status === 'Failed';
  const versions = c.FirmwareVersionBefore || c.FirmwareVersionAfter ? `${c.FirmwareVersionBefore ?? '?'} → ${c.FirmwareVersionAfter ?? '…'}` : '';
  return h(
    'tr',
    { attrs: { 'data-child': c.JobId }, class: c.Status.toLowerCase() },
    h('td', { class: 'id' }, c.DeviceId),
    h('td', {}, h('span', { class: `status ${c.Status.toLowerCase()}` }, c.Status), c.TimedOut ? ' (timed out)' : ''),
    h('td', {}, bar(c.Progress)),
    h('td', { class: failed ? 'bad reason' : 'message' }, c.StatusMessage),
    h('td', {}, resultText(c.UpdateResult), c.ErrorCode ? h('div', { class: 'muted' }, c.ErrorCode) : null),
    h('td', {}, versions),
    h('td', { class: 'muted' }, when(c.EndTime ?? c.StartTime)),
    h('td', {}, isTerminal(c.Status) ? null : h('button', { class: 'link', attrs: { type: 'button' }, on: { click: () => void cancelJob(c.JobId, 'device job', error) } }, 'cancel…')),
  );
}

export interface ChildrenTable {
  element: HTMLElement;
  reload(): Promise<void>;
  /** replaces the row of `job` when it is on the page (and matches the status filter) */
  update(job: Job): void;
}

export function childrenTable(parentId: string): ChildrenTable {
  const status = select('status', [['', 'any'], ...JOB_STATUSES.map((s) => [s, s] as const)], '');
  const body = h('tbody');
  const summary = h('p', { class: 'summary' });
  const error = h('p', { class: 'error', attrs: { role: 'alert' } });
  const next = h('button', { attrs: { type: 'button' } }, 'Next page');
  const first = h('button', { attrs: { type: 'button' } }, 'First page');
  let cursor = '';
  let nextCursor: string | undefined;
  let seq = 0;

  const reload = async () => {
    const my = ++seq;
    const filters: unknown[] = [{ type: 'comparison', property: 'ParentJobId', comparisonOperator: 'eq', value: parentId }];
    if (status.value) filters.push({ type: 'comparison', property: 'Status', comparisonOperator: 'eq', value: status.value });
    const query = { filter: filters.length === 1 ? filters[0] : { type: 'and', filters }, sort: ['CreatedTime'], page: cursor ? { size: PAGE, cursor } : { size: PAGE } };
    try {
      const page = await api<JobPage>('POST', '/v1/jobs/query', query);
      if (my !== seq) return;
      nextCursor = page.nextPage;
      replace(body, ...page.jobs.map((c) => childRow(c, error)));
      summary.textContent = `${page.total} device job${page.total === 1 ? '' : 's'}${status.value ? ` ${status.value.toLowerCase()}` : ''}`;
      next.disabled = nextCursor === undefined;
      first.disabled = cursor === '';
      error.textContent = '';
    } catch (e) {
      error.textContent = e instanceof HubError ? e.message : String(e);
    }
  };
  status.addEventListener('change', () => {
    cursor = '';
    void reload();
  });
  next.addEventListener('click', () => {
    if (nextCursor === undefined) return;
    cursor = nextCursor;
    void reload();
  });
  first.addEventListener('click', () => {
    cursor = '';
    void reload();
  });

  const element = h(
    'section',
    { class: 'children' },
    h('h3', {}, 'Devices'),
    h('div', { class: 'filters' }, field('Status', status)),
    summary,
    error,
    h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, ...['Device', 'Status', 'Progress', 'Message / reason', 'Update result', 'Firmware', 'Time', ''].map((t) => h('th', {}, t)))), body),
    h('div', { class: 'pager' }, first, next),
  );
  return {
    element,
    reload,
    update(job) {
      const old = [...body.rows].find((r) => r.dataset['child'] === job.JobId);
      if (!old) return;
      if (status.value && job.Status !== status.value) return void old.remove();
      old.replaceWith(childRow(job, error));
    },
  };
}
