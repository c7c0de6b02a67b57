// The job table renderer (pure): records in, lines out. Cells, widths, truncation, the row cut for small
// screens, the TTY redraw sequence and the plain change lines.

import { describe, expect, it } from 'vitest';
import {
  childCells, childDetailLines, cursorUp, ERASE_DOWN, jobListLines, LiveTable, renderJobTable, resultText, truncate,
} from '../../cli/job-table.js';
import type { JobRecord, JobStatus } from '../../hub/jobs/job-model.js';
import type { JobView } from '../../cli/job-table.js';

const T = '2026-11-27T16:30:45.000Z';
function rec(p: Partial<JobRecord> = {}): JobRecord {
  return {
    JobId: 'fw-1', ParentJobId: '', DeviceId: '', Type: 'firmware-update', Status: 'Queued', StatusMessage: '',
    CreatedTime: T, StartTime: null, EndTime: null, Progress: 0, TimedOut: false, UpdateResult: null, ErrorCode: null,
    FirmwareVersionBefore: null, FirmwareVersionAfter: null, Values: null, Parameters: { timeoutSeconds: 60 }, Log: [], ...p,
  };
}
const child = (device: string, p: Partial<JobRecord> = {}) => rec({ JobId: `fw-1~${device}`, ParentJobId: 'fw-1', DeviceId: device, ...p });
const detail = (children: JobRecord[], p: Partial<JobRecord> = {}): JobView => ({ job: rec({ Status: 'Running', ...p }), children });
const ESC = '\x1b';

describe('cells', () => {
  it('truncates with an ellipsis only when needed', () => {
    expect(truncate('abcdef', 6)).toBe('abcdef');
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('abcdef', 1)).toBe('…');
    expect(truncate('abcdef', 0)).toBe('');
    expect(truncate('äöüßxy', 5)).toBe('äöüß…');
  });

  it('describes results: update result, error code, versions, values, timeout', () => {
    expect(resultText(child('a', { UpdateResult: 1, FirmwareVersionBefore: '2.3.0', FirmwareVersionAfter: '2.4.0' }))).toBe('1 success, 2.3.0→2.4.0');
    expect(resultText(child('a', { TimedOut: true, UpdateResult: 8, ErrorCode: 'boot-failed', FirmwareVersionBefore: '2.3.0' }))).toBe('timed out, 8 update-failed, boot-failed, from 2.3.0');
    expect(resultText(child('a', { Values: { '/3/0/3': '2.4.1', '/3/0/10': 123 } }))).toBe('/3/0/3=2.4.1 /3/0/10=123');
    expect(resultText(child('a'))).toBe('');
  });

  it('strips control characters from device-supplied text', () => {
    const c = child('a', { StatusMessage: 'evil\x1b[2J\x1b]0;title\x07 text\r\nnext', ErrorCode: 'x\x1b[31m' });
    const cells = childCells(c);
    expect(cells.join('')).not.toContain(ESC);
    expect(cells[4]).toBe('evil [2J ]0;title  text next');
  });
});

describe('renderJobTable', () => {
  const kids = [
    child('dev-1', { Status: 'Completed', Progress: 100, UpdateResult: 1, FirmwareVersionAfter: '2.4.0' }),
    child('device-long-name-2', { Status: 'Running', Progress: 40, StatusMessage: 'downloading' }),
    child('dev-3', { Status: 'Failed', UpdateResult: 5, ErrorCode: 'integrity-mismatch', StatusMessage: 'sha-256 differs from the manifest' }),
  ];

  it('lays out a summary, a header and one aligned row per child', () => {
    expect(renderJobTable(detail(kids, { Progress: 33, StatusMessage: '1 of 3 done' }))).toEqual([
      'fw-1  firmware-update  Running  33%  3 devices: 1 running, 1 completed, 1 failed  (1 of 3 done)',
      'DEVICE              STATUS     PROGRESS  RESULT                                   MESSAGE',
      'dev-1               Completed  100%      1 success, →2.4.0',
      'device-long-name-2  Running    40%                                                downloading',
      'dev-3               Failed     0%        5 integrity-failure, integrity-mismatch  sha-256 differs from the manifest',
    ]);
  });

  it('cuts every line to the width, giving the message what is left', () => {
    const lines = renderJobTable(detail(kids), { width: 70 });
    for (const l of lines) expect(Array.from(l).length).toBeLessThanOrEqual(70);
    // the result column gives way first, the message keeps at least 10 characters
    expect(lines[4]).toBe('dev-3               Failed     0%        5 integrity-fail…  sha-256 d…');
    expect(lines[1]).toBe('DEVICE              STATUS     PROGRESS  RESULT             MESSAGE');
  });

  it('caps the device column at 32 characters', () => {
    const long = 'd'.repeat(50);
    const lines = renderJobTable(detail([child(long)]));
    expect(lines[2]?.startsWith(`${'d'.repeat(31)}…  Queued`)).toBe(true);
  });

  it('with maxRows keeps running and failed rows first (in creation order) and counts the rest', () => {
    const statuses: JobStatus[] = ['Completed', 'Queued', 'Failed', 'Completed', 'Running', 'Queued', 'Running', 'Completed', 'Cancelled', 'Queued'];
    const many = statuses.map((Status, i) => child(`d${i}`, { Status }));
    const lines = renderJobTable(detail(many), { maxRows: 4 });
    expect(lines.slice(2).map((l) => l.split(' ')[0])).toEqual(['d2', 'd4', 'd6', '…']);
    expect(lines[5]).toBe('… 7 more: 3 queued, 3 completed, 1 cancelled');
  });
});

describe('a view of a large job (some children at hand, counts from the hub)', () => {
  const counts = { Queued: 5000, Running: 1000, Completed: 300, Failed: 99, Cancelled: 1 };
  const view: JobView = { ...detail([child('d1', { Status: 'Running' }), child('d2', { Status: 'Failed' })]), counts };

  it('the summary and the "more" line count every child, not the rows at hand', () => {
    const lines = renderJobTable(view, { maxRows: 3 });
    expect(lines[0]).toBe('fw-1  firmware-update  Running  0%  6400 devices: 5000 queued, 1000 running, 300 completed, 99 failed, 1 cancelled');
    expect(lines.slice(2).map((l) => l.split(' ')[0])).toEqual(['d1', 'd2', '…']);
    expect(lines[4]).toBe('… 6398 more: 5000 queued, 999 running, 300 completed, 98 failed, 1 cancelled');
  });

  it('asks a poll for the rows the screen holds (a TTY) or a page of 100 (a log)', () => {
    expect(new LiveTable({ tty: true, width: 80, height: 24 }).rows).toBe(20);
    expect(new LiveTable({ tty: false }).rows).toBe(100);
    const log = new LiveTable({ tty: false }).frame(view);
    expect(log.split('\n')[0]).toMatch(/ 6400 devices: /);
  });
});

describe('LiveTable on a TTY', () => {
  it('draws, skips an unchanged frame, then moves up over the old table and erases it', () => {
    const live = new LiveTable({ tty: true, width: 60, height: 20 });
    const d1 = detail([child('dev-1'), child('dev-2')]);
    const f1 = live.frame(d1);
    expect(f1.startsWith(ERASE_DOWN)).toBe(true);
    const lines1 = f1.slice(ERASE_DOWN.length).split('\n');
    expect(lines1.pop()).toBe(''); // ends with a newline: the cursor sits below the table
    expect(lines1).toHaveLength(4);
    expect(live.frame(d1)).toBe('');
    const f2 = live.frame(detail([child('dev-1', { Status: 'Running', Progress: 10 }), child('dev-2')]));
    expect(f2.startsWith(`${cursorUp(4)}${ERASE_DOWN}`)).toBe(true);
    expect(f2).toContain('dev-1   Running    10%');
    for (const l of f2.split('\n')) expect(Array.from(l.replace(/\x1b\[\d*[A-Z]/g, '')).length).toBeLessThanOrEqual(59);
  });

  it('after invalidate() draws the next frame afresh instead of moving over other output', () => {
    const live = new LiveTable({ tty: true, width: 60, height: 20 });
    const d = detail([child('dev-1')]);
    live.frame(d);
    live.invalidate();
    const again = live.frame(d);
    expect(again.startsWith(ERASE_DOWN)).toBe(true);
    expect(again).toContain('dev-1');
  });

  it('fits the table to the terminal height so the cursor can return to its top', () => {
    const live = new LiveTable({ tty: true, width: 80, height: 10 });
    const f = live.frame(detail(Array.from({ length: 50 }, (_, i) => child(`d${i}`))));
    const lines = f.slice(ERASE_DOWN.length).split('\n').slice(0, -1);
    expect(lines.length).toBeLessThanOrEqual(10 - 1);
    expect(lines[lines.length - 1]).toMatch(/^… \d+ more: \d+ queued$/);
    expect(live.frame(detail([child('d0')])).startsWith(cursorUp(lines.length))).toBe(true);
  });
});

describe('LiveTable on a pipe', () => {
  it('prints everything once, then only the rows that changed, aligned, never cut, no escapes', () => {
    const live = new LiveTable({ tty: false });
    const first = live.frame(detail([child('dev-1'), child('device-22')])).split('\n');
    expect(first).toEqual([
      'fw-1  firmware-update  Running  0%  2 devices: 2 queued',
      'DEVICE     STATUS     PROGRESS  RESULT            MESSAGE',
      'dev-1      Queued     0%',
      'device-22  Queued     0%',
      '',
    ]);
    expect(live.frame(detail([child('dev-1'), child('device-22')]))).toBe('');
    // a progress change: only that row (the counts did not change)
    expect(live.frame(detail([child('dev-1'), child('device-22', { Progress: 5 })]))).toBe('device-22  Queued     5%\n');
    const msg = 'a long message that a narrow terminal would have cut, but a log keeps whole';
    const changed = live.frame(detail([child('dev-1', { Status: 'Failed', ErrorCode: 'boot-failed', StatusMessage: msg }), child('device-22', { Progress: 5 })], { Status: 'Running' }));
    expect(changed).toBe(`fw-1  firmware-update  Running  0%  2 devices: 1 queued, 1 failed\ndev-1      Failed     0%        boot-failed       ${msg}\n`);
    expect(changed).not.toContain(ESC);
  });

  it('reports the parent reaching its end even when no child changed', () => {
    const live = new LiveTable({ tty: false });
    const kids = [child('dev-1', { Status: 'Cancelled' })];
    live.frame(detail(kids));
    expect(live.frame(detail(kids, { Status: 'Cancelled' }))).toBe('fw-1  firmware-update  Cancelled  0%  1 device: 1 cancelled\n');
  });
});

describe('list and child views', () => {
  it('lists jobs with aligned columns and times in UTC', () => {
    const lines = jobListLines([rec({ Status: 'Completed', StartTime: T, EndTime: T, Progress: 100 }), rec({ JobId: 'reboot-2', Type: 'reboot', StatusMessage: 'x' })]);
    expect(lines).toEqual([
      'JOB       TYPE             STATUS     PROGRESS  STARTED              ENDED                MESSAGE',
      'fw-1      firmware-update  Completed  100%      2026-11-27 16:30:45  2026-11-27 16:30:45',
      'reboot-2  reboot           Queued     0%        -                    -                    x',
    ]);
    for (const l of jobListLines([rec({ StatusMessage: 'm'.repeat(300) })], 50)) expect(l.length).toBeLessThanOrEqual(50);
  });

  it('shows a child with its result and log', () => {
    const lines = childDetailLines(child('dev-1', { Status: 'Failed', StatusMessage: 'rolled back', ErrorCode: 'boot-failed', Log: [{ time: T, step: 'uri written' }, { time: T, step: 'failed', detail: 'boot counter exhausted' }] }));
    expect(lines).toContain('status     Failed (rolled back)');
    expect(lines).toContain('result     boot-failed');
    expect(lines.slice(-3)).toEqual(['log', '  2026-11-27 16:30:45  uri written', '  2026-11-27 16:30:45  failed  boot counter exhausted']);
  });
});
