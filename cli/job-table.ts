// The table of a fleet job's children for `fota job show` and `--wait`: rows, widths, truncation, and the live
// view (redraw in place on a TTY with ANSI cursor moves; one plain line per change otherwise). Pure: no IO.

import type { UpdateResultValue } from '../protocol/lwm2m.js';
import type { JsonValue } from '../protocol/messages.js';
import { ATTENTION_ORDER, JOB_STATUSES, zeroCounts, type JobRecord, type JobStatus } from '../hub/jobs/job-model.js';

/**
 * What the table draws: a job and children of it. `counts` (per status, over ALL its children, as the hub counts
 * them) is there when `children` are only some of them; without it `children` are all of them.
 */
export interface JobView {
  job: JobRecord;
  children: readonly JobRecord[];
  counts?: Record<JobStatus, number>;
}

/** Update Result (Object 5 /5/0/5) as a short word, for a narrow column. */
const RESULT_WORD = {
  0: 'initial', 1: 'success', 2: 'no-space', 3: 'out-of-ram', 4: 'connection-lost', 5: 'integrity-failure',
  6: 'unsupported-package', 7: 'invalid-uri', 8: 'update-failed', 9: 'unsupported-protocol', 10: 'cancelled',
} as const satisfies Record<UpdateResultValue, string>;

export const COLUMNS = ['DEVICE', 'STATUS', 'PROGRESS', 'RESULT', 'MESSAGE'] as const;
const GAP = '  ';
const MAX_DEVICE = 32;
const MAX_RESULT = 40;
const MIN_MESSAGE = 10;
/** ANSI: cursor to the start of the line n lines up; erase from the cursor to the end of the screen. */
export const cursorUp = (n: number): string => `\x1b[${n}F`;
export const ERASE_DOWN = '\x1b[J';

/** Removes control characters (a device-supplied message must not move the cursor or recolour the terminal). */
export function clean(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
}

/** `text` cut to `width` characters, ending in "…" when cut. */
export function truncate(text: string, width: number): string {
  const chars = Array.from(text);
  if (chars.length <= width) return text;
  return width <= 0 ? '' : `${chars.slice(0, width - 1).join('')}…`;
}

const pad = (text: string, width: number): string => text + ' '.repeat(Math.max(0, width - Array.from(text).length));
const show = (v: JsonValue): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** What a child's RESULT column says: update result, error code, versions, values read, timeout. */
export function resultText(r: JobRecord): string {
  const parts: string[] = [];
  if (r.TimedOut) parts.push('timed out');
  if (r.UpdateResult !== null) parts.push(`${r.UpdateResult} ${RESULT_WORD[r.UpdateResult] ?? ''}`.trim());
  if (r.ErrorCode) parts.push(r.ErrorCode);
  const [before, after] = [r.FirmwareVersionBefore, r.FirmwareVersionAfter];
  if (before !== null && after !== null) parts.push(`${before}→${after}`);
  else if (after !== null) parts.push(`→${after}`);
  else if (before !== null) parts.push(`from ${before}`);
  if (r.Values) parts.push(Object.entries(r.Values).map(([k, v]) => `${k}=${show(v)}`).join(' '));
  return clean(parts.join(', '));
}

/** The cells of one child's row, untruncated. */
export function childCells(r: JobRecord): [string, string, string, string, string] {
  return [r.DeviceId, r.Status, `${r.Progress}%`, resultText(r), clean(r.StatusMessage)];
}

/** How many of `children` are in each status. */
export function countsOf(children: readonly JobRecord[]): Record<JobStatus, number> {
  const n = zeroCounts();
  for (const c of children) n[c.Status]++;
  return n;
}

/** The view's counts over all its children: the hub's, or counted here when every child is at hand. */
export const viewCounts = (d: JobView): Record<JobStatus, number> => d.counts ?? countsOf(d.children);
export const totalOf = (n: Record<JobStatus, number>): number => JOB_STATUSES.reduce((sum, s) => sum + n[s], 0);

/** "3 completed, 1 failed, 2 running" (statuses with zero left out). */
export function countText(n: Record<JobStatus, number>): string {
  return JOB_STATUSES.filter((s) => n[s] > 0).map((s) => `${n[s]} ${s.toLowerCase()}`).join(', ') || 'no devices';
}

/** The line above the table: "fw-1  firmware-update  Running  40%  10 devices: 4 completed, 6 running". */
export function summaryLine(d: JobView): string {
  const msg = d.job.StatusMessage ? `  (${clean(d.job.StatusMessage)})` : '';
  const n = viewCounts(d);
  const total = totalOf(n);
  return `${d.job.JobId}  ${d.job.Type}  ${d.job.Status}  ${d.job.Progress}%  ${total} device${total === 1 ? '' : 's'}: ${countText(n)}${msg}`;
}

/**
 * Column widths for these children. With a `width`, the message takes what is left (at least 10) and a narrow
 * screen shrinks the result column before anything else; without one the message is unbounded.
 */
export function columnWidths(children: readonly JobRecord[], width?: number): number[] {
  const cells = children.map(childCells);
  const fit = (i: number, min: number, max: number) => Math.min(max, Math.max(min, ...cells.map((c) => Array.from(c[i] as string).length)));
  const [device, status, progress] = [fit(0, COLUMNS[0].length, MAX_DEVICE), 9, COLUMNS[2].length];
  const result = fit(3, COLUMNS[3].length, MAX_RESULT);
  if (width === undefined) return [device, status, progress, result, Number.POSITIVE_INFINITY];
  const rest = width - (device + status + progress) - 4 * GAP.length;
  const shrunk = Math.min(result, Math.max(COLUMNS[3].length, rest - MIN_MESSAGE));
  return [device, status, progress, shrunk, Math.max(MIN_MESSAGE, rest - shrunk)];
}

/** One row: cells padded to `widths` and cut with "…"; no trailing blanks. */
export function formatRow(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => {
    const w = widths[i] ?? Number.POSITIVE_INFINITY;
    const cut = truncate(c, w);
    return i === cells.length - 1 ? cut : pad(cut, w);
  }).join(GAP).trimEnd();
}

/** Which rows to keep when the screen is too small: what is happening and what went wrong first. */
export const SHOWN_FIRST = ATTENTION_ORDER;
const RANK = Object.fromEntries(SHOWN_FIRST.map((s, i) => [s, i])) as Record<JobStatus, number>;

/**
 * The table of a parent's children: summary line, column header, one row per child at hand. With `maxRows`, at
 * most that many rows (the running and failed ones first, in the order at hand) and a "… N more" line that
 * counts the rest from the view's counts. With `width`, every line is cut to fit.
 */
export function renderJobTable(d: JobView, opts: { width?: number; maxRows?: number } = {}): string[] {
  const widths = columnWidths(d.children, opts.width);
  const counts = viewCounts(d);
  const total = totalOf(counts);
  let shown: readonly JobRecord[] = d.children;
  let more = '';
  if (opts.maxRows !== undefined && total > opts.maxRows) {
    const keep = Math.max(0, opts.maxRows - 1);
    const picked = new Set(d.children.map((c, i) => ({ c, i })).sort((a, b) => RANK[a.c.Status] - RANK[b.c.Status] || a.i - b.i).slice(0, keep).map((x) => x.c));
    shown = d.children.filter((c) => picked.has(c));
    const rest = countsOf(shown);
    for (const s of JOB_STATUSES) rest[s] = Math.max(0, counts[s] - rest[s]);
    more = `… ${total - shown.length} more: ${countText(rest)}`;
  }
  const lines = [summaryLine(d), formatRow(COLUMNS, widths), ...shown.map((c) => formatRow(childCells(c), widths))];
  if (more) lines.push(more);
  return opts.width === undefined ? lines : lines.map((l) => truncate(l, opts.width as number));
}

/** An ISO time as "2026-11-27 16:30:45" (UTC), "-" for none. */
export const when = (iso: string | null): string => (iso === null ? '-' : `${iso.slice(0, 10)} ${iso.slice(11, 19)}`);

/** `fota job list`: a header and one row per job; lines cut to `width` when given. */
export function jobListLines(jobs: readonly JobRecord[], width?: number): string[] {
  const rows = [['JOB', 'TYPE', 'STATUS', 'PROGRESS', 'STARTED', 'ENDED', 'MESSAGE'], ...jobs.map((j) => [j.JobId, j.Type, j.Status, `${j.Progress}%`, when(j.StartTime), when(j.EndTime), clean(j.StatusMessage)])];
  const widths = (rows[0] as string[]).map((_, i) => (i === 6 ? Number.POSITIVE_INFINITY : Math.max(...rows.map((r) => (r[i] as string).length))));
  return rows.map((r) => (width === undefined ? formatRow(r, widths) : truncate(formatRow(r, widths), width)));
}

/** `fota job show CHILD`: one "key  value" line per field, then the log. */
export function childDetailLines(j: JobRecord): string[] {
  const kv: [string, string][] = [
    ['job', j.JobId], ['parent', j.ParentJobId], ['device', j.DeviceId], ['type', j.Type],
    ['status', `${j.Status}${j.StatusMessage ? ` (${clean(j.StatusMessage)})` : ''}`], ['progress', `${j.Progress}%`],
    ['result', resultText(j) || '-'], ['created', when(j.CreatedTime)], ['started', when(j.StartTime)], ['ended', when(j.EndTime)],
    ['parameters', JSON.stringify(j.Parameters)],
  ];
  const lines = kv.map(([k, v]) => `${k.padEnd(11)}${v}`);
  lines.push(j.Log.length === 0 ? 'log        (empty)' : 'log');
  for (const e of j.Log) lines.push(`  ${when(e.time)}  ${clean(e.step)}${e.detail ? `  ${clean(e.detail)}` : ''}`);
  return lines;
}

export interface LiveTableOptions {
  /** redraw in place (a terminal) or print one line per change (a pipe, a CI log) */
  tty: boolean;
  /** terminal columns (TTY only); lines are cut to width - 1 so none wraps and breaks the cursor count */
  width?: number;
  /** terminal rows (TTY only); the table is cut to fit so the cursor can move back to its top */
  height?: number;
}

/** Children a plain (not a TTY) --wait log takes per poll: a job with more logs its counts and each failure only. */
const CHANGE_ROWS = 100;

/**
 * The live view of a job while `--wait` polls it. `frame(detail)` returns the text to write for this poll:
 * on a TTY the whole table with cursor moves that overwrite the previous one ("" when nothing changed);
 * otherwise the summary line when the parent or its counts changed and one row per child at hand that changed (all
 * rows the first time). A poll brings at most `rows` children (job-poll.ts): of a larger job, a log gets the devices
 * that failed since the last poll, so its lines are the counts as they change and each failure once.
 */
export class LiveTable {
  private drawn: string[] = [];
  private readonly seen = new Map<string, string>();
  private parentKey = '';
  private widths: number[] | undefined;

  constructor(private readonly opts: LiveTableOptions) {}

  /** Forget what is on screen (something else was printed below it): the next TTY frame draws afresh. */
  invalidate(): void {
    this.drawn = [];
  }

  /** How many children a frame can show: what a poll should ask the hub for. */
  get rows(): number {
    return this.opts.tty ? this.maxRows() : CHANGE_ROWS;
  }

  private maxRows(): number {
    return Math.max(3, (this.opts.height ?? 24) - 4);
  }

  frame(d: JobView): string {
    return this.opts.tty ? this.redraw(d) : this.changes(d);
  }

  private redraw(d: JobView): string {
    const width = Math.max(20, (this.opts.width ?? 80) - 1);
    const lines = renderJobTable(d, { width, maxRows: this.maxRows() });
    if (lines.length === this.drawn.length && lines.every((l, i) => l === this.drawn[i])) return '';
    const up = this.drawn.length > 0 ? cursorUp(this.drawn.length) : '';
    this.drawn = lines;
    return `${up}${ERASE_DOWN}${lines.join('\n')}\n`;
  }

  private changes(d: JobView): string {
    const out: string[] = [];
    const parentKey = `${d.job.Status}|${countText(viewCounts(d))}|${d.job.StatusMessage}`;
    if (parentKey !== this.parentKey) out.push(summaryLine(d));
    this.parentKey = parentKey;
    if (this.widths === undefined) {
      // fixed at the first poll so later lines line up; results arrive later, so their column gets room now
      const w = columnWidths(d.children);
      this.widths = [w[0] ?? 6, w[1] ?? 9, w[2] ?? 8, Math.max(w[3] ?? 6, 16)];
      out.push(this.plainRow(COLUMNS));
    }
    for (const c of d.children) {
      const cells = childCells(c);
      const key = cells.join('\u0000');
      if (this.seen.get(c.JobId) === key) continue;
      this.seen.set(c.JobId, key);
      out.push(this.plainRow(cells));
    }
    return out.length === 0 ? '' : `${out.join('\n')}\n`;
  }

  // Plain lines are a log: padded to line up, never cut.
  private plainRow(cells: readonly string[]): string {
    return cells.map((c, i) => (i < cells.length - 1 ? pad(c, this.widths?.[i] ?? 0) : c)).join(GAP).trimEnd();
  }
}
