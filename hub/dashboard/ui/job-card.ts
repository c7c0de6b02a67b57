// One fleet job as a card: id, type, status, its children's counts and a progress bar, its message, and Cancel
// (with a confirmation) while it runs.

import { api, HubError } from './api.js';
import { bar, confirmDialog, h } from './dom.js';
import { when } from './format.js';
import { JOB_STATUSES, type JobEvent } from './types.js';

const TERMINAL = new Set(['Completed', 'Failed', 'Cancelled']);

export function isTerminal(status: string): boolean {
  return TERMINAL.has(status);
}

/** Asks, then cancels the job; reports a refusal in `error`. */
export async function cancelJob(id: string, what: string, error: HTMLElement): Promise<void> {
  const ok = await confirmDialog(`Cancel ${what} ${id}?`, 'Devices that have not started are not updated. A device that is downloading is told to stop; one that is already installing finishes (LwM2M cannot stop it).', 'Cancel the job');
  if (!ok) return;
  try {
    await api('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`);
    error.textContent = '';
  } catch (e) {
    error.textContent = `cancel failed: ${e instanceof HubError ? e.message : String(e)}`;
  }
}

export function jobCard(e: JobEvent, opts: { link: boolean }): HTMLElement {
  const j = e.job;
  const error = h('p', { class: 'error', attrs: { role: 'alert' } });
  const counts = h('p', { class: 'counts' }, ...JOB_STATUSES.filter((s) => (e.counts[s] ?? 0) > 0).map((s) => h('span', { class: `count ${s.toLowerCase()}` }, `${e.counts[s]} ${s.toLowerCase()}`)));
  const title = opts.link ? h('a', { attrs: { href: `#jobs/${encodeURIComponent(j.JobId)}` } }, j.JobId) : h('span', {}, j.JobId);
  const cancel = isTerminal(j.Status) ? null : h('button', { class: 'danger', attrs: { type: 'button', 'data-cancel': j.JobId }, on: { click: () => void cancelJob(j.JobId, 'job', error) } }, 'Cancel…');
  return h(
    'article',
    { class: `job ${j.Status.toLowerCase()}`, attrs: { 'data-job': j.JobId } },
    h('header', {}, h('h3', {}, title), h('span', { class: `status ${j.Status.toLowerCase()}` }, j.Status), h('span', { class: 'muted' }, j.Type), cancel),
    bar(isTerminal(j.Status) ? 100 : e.progress),
    counts,
    h('p', { class: 'message' }, j.StatusMessage),
    h('p', { class: 'muted' }, `created ${when(j.CreatedTime)} · started ${when(j.StartTime)} · ended ${when(j.EndTime)}`),
    error,
  );
}
