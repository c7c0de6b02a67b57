// `--wait` for `fota job …`: polls a job through JobClient and draws its devices (a live table on a terminal,
// change lines otherwise) until it ends or Ctrl-C. Writes to stdout/stderr; the exit code says how it ended.

import { JobClientError, type JobClient } from '../hub/job-client.js';
import { isTerminal, zeroCounts } from '../hub/jobs/job-model.js';
import { EXIT } from './command.js';
import { jobPoller } from './job-poll.js';
import { clean, LiveTable, totalOf, viewCounts, type JobView } from './job-table.js';

const POLL_MS = 1000;
/** consecutive failed polls (hub restarting, network blip) that --wait rides out before giving up */
const MAX_POLL_FAILURES = 30;

/** The terminal's size when stdout is one that reports it (a pty without a size says 0); else undefined. */
export function termSize(what: 'columns' | 'rows'): number | undefined {
  const n = process.stdout.isTTY ? process.stdout[what] : 0;
  return n > 0 ? n : undefined;
}

/**
 * Polls the job every second and shows its children until it ends: 0 Completed, 1 Failed/Cancelled, 130 on
 * Ctrl-C (the job keeps running). Rides out a hub that stops answering for a while once it has answered.
 */
export async function follow(c: JobClient, jobId: string, opts: { json?: boolean } = {}): Promise<number> {
  const out = process.stdout;
  const table = new LiveTable(out.isTTY ? { tty: true, width: termSize('columns') ?? 80, height: termSize('rows') ?? 24 } : { tty: false });
  // counts and a bounded page each second, never the whole list of children (a 6,400-device job is 4.4 MB of JSON)
  const next = jobPoller(c, jobId, table.rows, out.isTTY ? 'screen' : 'log');
  let stop = (): void => undefined;
  const stopped = new Promise<'stop'>((resolve) => (stop = () => resolve('stop')));
  process.on('SIGINT', stop);
  try {
    let failures = 0;
    let answered = false;
    for (;;) {
      // never rejects: a poll still in flight when Ctrl-C wins the race must not become an unhandled rejection
      const poll = next().then((d) => ({ d }), (e: unknown) => ({ e }));
      const r = await Promise.race([poll, stopped]);
      if (r === 'stop') break;
      if ('e' in r) {
        const e = r.e;
        if (!answered || !(e instanceof JobClientError) || e.status !== 0 || ++failures >= MAX_POLL_FAILURES) throw e;
        if (failures === 1) {
          process.stderr.write(`hub not answering (${e.code}); still trying…\n`);
          table.invalidate(); // the note moved the cursor: draw the next table below it
        }
      } else {
        answered = true;
        failures = 0;
        // --json: silent while waiting, the final job (and its children) as one JSON document at the end
        if (!opts.json) out.write(table.frame(r.d));
        if (isTerminal(r.d.job.Status)) return finished(c, r.d, opts.json === true);
      }
      let timer: NodeJS.Timeout | undefined;
      const slept = await Promise.race([new Promise<'tick'>((resolve) => (timer = setTimeout(() => resolve('tick'), POLL_MS))), stopped]);
      clearTimeout(timer);
      if (slept === 'stop') break;
    }
    process.stderr.write(`stopped waiting; job ${jobId} keeps running on the hub (follow it: fota job show ${jobId} --wait; stop it: fota job cancel ${jobId})\n`);
    return 130;
  } finally {
    process.off('SIGINT', stop);
  }
}

/** Prints how the job ended (once: a read job's values and --json need every child, fetched page by page). */
async function finished(c: JobClient, d: JobView, json: boolean): Promise<number> {
  const parent = d.job.ParentJobId === '';
  const all = parent && (json || d.job.Type === 'read-device-properties') ? await c.getJobWithAllChildren(d.job.JobId) : undefined;
  if (json) console.log(JSON.stringify(all ?? { job: d.job, counts: zeroCounts(), children: [] }, null, 2));
  else if (all) {
    for (const k of all.children) for (const [path, v] of Object.entries(k.Values ?? {})) console.log(`${k.DeviceId}  ${path}  ${clean(typeof v === 'string' ? v : JSON.stringify(v))}`);
  }
  const counts = viewCounts(d);
  const total = totalOf(counts);
  if (d.job.Status === 'Completed') {
    process.stderr.write(`job ${d.job.JobId} completed on ${total} device${total === 1 ? '' : 's'}\n`);
    return EXIT.ok;
  }
  process.stderr.write(`job ${d.job.JobId} ${d.job.Status.toLowerCase()}: ${total - counts.Completed} of ${total} devices did not complete (details: fota job show ${d.job.JobId})\n`);
  return EXIT.failure;
}
