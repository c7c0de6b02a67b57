// Jobs: the fleet jobs that run now, pushed live by the hub (counts, progress, status), the last ones that ended,
// and one job in detail (#jobs/ID) with its devices' jobs updating in place.

import { api, HubError } from './api.js';
import { childrenTable, type ChildrenTable } from './children-table.js';
import { h, replace } from './dom.js';
import { isTerminal, jobCard } from './job-card.js';
import type { Job, JobEvent, JobPage } from './types.js';
import { throttle, type View } from './view.js';

const RECENT = 10;
const PARENTS_ENDED = { type: 'and', filters: [{ type: 'comparison', property: 'ParentJobId', comparisonOperator: 'eq', value: '' }, { type: 'not', filter: { type: 'or', filters: ['Queued', 'Running'].map((value) => ({ type: 'comparison', property: 'Status', comparisonOperator: 'eq', value })) } }] };

export const jobsView: View = (root, ctx) => {
  const selected = ctx.args[0] ?? '';
  /** the fleet jobs the hub has pushed, by id (the snapshot after each connect, then every change) */
  const jobs = new Map<string, JobEvent>();
  const running = h('div', { class: 'cards', attrs: { 'data-list': 'running' } });
  const recent = h('div', { class: 'cards', attrs: { 'data-list': 'recent' } });
  const detail = h('div', { class: 'detail' });
  const error = h('p', { class: 'error', attrs: { role: 'alert' } });
  let children: ChildrenTable | undefined;

  const renderRunning = () => {
    const live = [...jobs.values()].filter((e) => !isTerminal(e.job.Status) && e.job.JobId !== selected).sort((a, b) => (a.job.CreatedTime < b.job.CreatedTime ? 1 : -1));
    replace(running, ...(live.length > 0 ? live.map((e) => jobCard(e, { link: true })) : [h('p', { class: 'muted' }, 'No fleet job is running.')]));
  };
  const renderDetail = () => {
    const e = jobs.get(selected);
    const card = detail.querySelector('article.job');
    if (e) {
      const fresh = jobCard(e, { link: false });
      if (card) card.replaceWith(fresh);
      else detail.prepend(fresh);
    }
  };
  const loadRecent = async () => {
    try {
      const page = await api<JobPage>('POST', '/v1/jobs/query', { filter: PARENTS_ENDED, sort: ['-EndTime'], page: { size: RECENT } });
      replace(recent, ...page.jobs.map((j) => jobCard({ job: j, counts: { Queued: 0, Running: 0, Completed: 0, Failed: 0, Cancelled: 0 }, progress: 100 }, { link: true })));
      error.textContent = '';
    } catch (e) {
      error.textContent = e instanceof HubError ? e.message : String(e);
    }
  };
  const loadSelected = async () => {
    try {
      // children=0: the job and its children's counts only (the children table pages through them itself)
      const d = await api<Pick<JobEvent, 'job' | 'counts'>>('GET', `/v1/jobs/${encodeURIComponent(selected)}?children=0`);
      // a running job's counts and progress then come with every push
      if (!jobs.has(selected)) jobs.set(selected, { job: d.job, counts: d.counts, progress: d.job.Progress });
      renderDetail();
    } catch (e) {
      error.textContent = e instanceof HubError ? e.message : String(e);
    }
  };
  const reloadRecent = throttle(() => void loadRecent(), 1000);
  const reloadChildren = throttle(() => void children?.reload(), 1000);

  const off = ctx.live.on((event, data) => {
    if (event === 'hello') {
      jobs.clear();
      reloadRecent();
      if (children) void loadSelected().then(() => children?.reload());
    } else if (event === 'job') {
      const e = data as JobEvent;
      const was = jobs.get(e.job.JobId);
      jobs.set(e.job.JobId, e);
      if (e.job.JobId === selected) renderDetail();
      if (was && !isTerminal(was.job.Status) && isTerminal(e.job.Status)) reloadRecent();
    } else if (event === 'child' && children) children.update((data as { job: Job }).job);
    else if (event === 'children' && children) reloadChildren();
    else return;
    renderRunning();
  });

  ctx.live.follow(selected);
  if (selected) {
    children = childrenTable(selected);
    replace(detail, h('p', {}, h('a', { attrs: { href: '#jobs' } }, '← all jobs')), children.element);
    void loadSelected();
    void children.reload();
  }
  replace(
    root,
    h('section', { class: 'jobs' }, h('h2', {}, selected ? `Job ${selected}` : 'Jobs'), error, detail, h('h3', {}, selected ? 'Other running jobs' : 'Running'), running, h('h3', {}, 'Recently ended'), recent),
  );
  renderRunning();
  void loadRecent();
  return () => {
    off();
    ctx.live.follow('');
    reloadRecent.cancel();
    reloadChildren.cancel();
  };
};
