// `fota job …`: schedule, follow, list, show and cancel fleet jobs through the hub's HTTP API (JobClient).
// Hub from --hub / $FOTA_HUB, token from $FOTA_HUB_TOKEN (read when a command runs, never at import).

import { JobClient, JobClientError, DEFAULT_FIRMWARE_TIMEOUT_SECONDS, DEFAULT_TIMEOUT_SECONDS } from '../../hub/job-client.js';
import { isTerminal, type JobParameters, type JobRecord, type JobType } from '../../hub/jobs/job-model.js';
import { CliError, EXIT, requireOpt, str, strs, usageError, type Command, type Options, type Parsed } from '../command.js';
import { intOpt, listQuery, parameters, parseDevices, parseSets } from '../job-args.js';
import { follow, termSize } from '../job-follow.js';
import { childDetailLines, jobListLines, renderJobTable, when } from '../job-table.js';

export const DEFAULT_HUB = 'http://127.0.0.1:8640';

const HUB_HELP = `Hub options:
  --hub URL   the hub's API (default: $FOTA_HUB or ${DEFAULT_HUB}); the token comes from $FOTA_HUB_TOKEN`;

function client(args: Parsed): JobClient {
  const url = str(args.values.hub) ?? (process.env['FOTA_HUB'] || DEFAULT_HUB);
  const token = process.env['FOTA_HUB_TOKEN'];
  try {
    return new JobClient(token ? { url, token } : { url });
  } catch (e) {
    throw usageError((e as Error).message);
  }
}

/** Turns a JobClientError into the CLI's one line + hint; 400s are the user's input (exit 2). */
function cliError(e: unknown, cmd: string): unknown {
  if (!(e instanceof JobClientError)) return e;
  const hint: Record<string, string> = {
    unauthorized: 'set FOTA_HUB_TOKEN to the token the hub was started with',
    'not-found': 'list jobs with: fota job list',
    'duplicate-job': 'choose another --id, or leave --id out for a generated one',
  };
  if (e.status === 400) return usageError(e.message, `see: fota ${cmd} --help`);
  return new CliError(e.message, EXIT.failure, hint[e.code]);
}

async function withClient<T>(args: Parsed, cmd: string, fn: (c: JobClient) => Promise<T>): Promise<T> {
  const c = client(args);
  try {
    return await fn(c);
  } catch (e) {
    throw cliError(e, cmd);
  } finally {
    c.close();
  }
}

const PREFIX: Record<JobType, string> = {
  'firmware-update': 'fw', reboot: 'reboot', 'factory-reset': 'reset', 'configuration-update': 'config',
  'read-device-properties': 'read', 'write-device-properties': 'write',
};
/** A readable job id from the type and the time (UTC): "fw-20261127-163045". */
export function generatedJobId(type: JobType, now = new Date()): string {
  const t = now.toISOString();
  return `${PREFIX[type]}-${t.slice(0, 10).replace(/-/g, '')}-${t.slice(11, 19).replace(/:/g, '')}`;
}

const SCHEDULE_OPTIONS: Options = {
  devices: { type: 'string', multiple: true },
  id: { type: 'string' },
  timeout: { type: 'string' },
  'max-in-flight': { type: 'string' },
  'abort-failure-ratio': { type: 'string' },
  wait: { type: 'boolean' },
  json: { type: 'boolean' },
  'wait-for-devices': { type: 'boolean' },
  hub: { type: 'string' },
};
const scheduleHelp = (timeout: number) => `Options:
  --devices LIST   device ids: a,b,c or @FILE (one per line); may be repeated
  --id JOBID       job id (default: generated from the type and UTC time, e.g. fw-20261127-163045)
  --timeout T      how long each device may take: 90s, 25m, 1h (default ${timeout / 60}m)
  --max-in-flight N          at most N devices at once (default: all)
  --abort-failure-ratio R    stop starting devices once this share (0..1) of the finished ones failed
  --wait-for-devices         wait (up to --timeout) for devices the hub has never seen; without it their
                             device jobs fail at once with "unknown device"
  --wait           follow the job: a table of the devices, exit 0 when it completed, 1 when it failed or
                   was cancelled; Ctrl-C stops waiting (the job keeps running)
  --json           print the scheduled job as JSON (with --wait: the finished job and its devices)
${HUB_HELP}`;

function scheduleCommand(spec: { verb: string; type: JobType; summary: string; usage: string; options?: Options; own(args: Parsed): Partial<JobParameters> }): Command {
  const name = `job ${spec.verb}`;
  const timeout = spec.type === 'firmware-update' ? DEFAULT_FIRMWARE_TIMEOUT_SECONDS : DEFAULT_TIMEOUT_SECONDS;
  return {
    name,
    summary: spec.summary,
    usage: `${spec.usage}\n\n${scheduleHelp(timeout)}`,
    options: { ...SCHEDULE_OPTIONS, ...spec.options },
    run: (args) => {
      const deviceIds = parseDevices(strs(args.values.devices));
      const params = parameters(args, spec.type, spec.own(args));
      const chosen = str(args.values.id);
      return withClient(args, name, async (c) => {
        let job: JobRecord | undefined;
        // a generated id may collide with a job scheduled in the same second: add a counter
        for (let n = 1; !job; n++) {
          const jobId = chosen ?? (n === 1 ? generatedJobId(spec.type) : `${generatedJobId(spec.type)}-${n}`);
          try {
            job = await c.schedule({ jobId, type: spec.type, deviceIds, parameters: params });
          } catch (e) {
            if (chosen !== undefined || n >= 5 || !(e instanceof JobClientError && e.code === 'duplicate-job')) throw e;
          }
        }
        const json = args.values.json === true;
        // --json: the job record now, or with --wait the finished job and its children
        if (json && !args.values.wait) console.log(JSON.stringify(job, null, 2));
        else if (!json) console.log(job.JobId);
        process.stderr.write(`scheduled ${spec.type} job ${job.JobId} on ${deviceIds.length} device${deviceIds.length === 1 ? '' : 's'}${args.values.wait ? '' : `; follow it: fota job show ${job.JobId} --wait`}\n`);
        return args.values.wait ? follow(c, job.JobId, { json }) : EXIT.ok;
      });
    },
  };
}

const schedules: Command[] = [
  scheduleCommand({
    verb: 'firmware-update', type: 'firmware-update', summary: 'update the firmware of devices (a fleet job)',
    usage: `Usage: fota job firmware-update --devices LIST --package URI [options]

Writes the package URI to /5/0/1 of every device and follows each update to its Update Result.
Example: fota job firmware-update --devices @fleet.txt --package https://fw.example/os-2.4.0.fota --max-in-flight 10 --wait

  --package URI    http:// or https:// URL of the signed package
  --allow-downgrade  let devices install a version lower than theirs (never one below their security floor)`,
    options: { package: { type: 'string' }, 'allow-downgrade': { type: 'boolean' } },
    own: (args) => ({ packageUri: requireOpt(args, 'package'), ...(args.values['allow-downgrade'] ? { allowDowngrade: true } : {}) }),
  }),
  scheduleCommand({
    verb: 'reboot', type: 'reboot', summary: 'reboot devices (a fleet job)',
    usage: 'Usage: fota job reboot --devices LIST [options]\n\nExecutes /3/0/4 (Reboot) on every device.\nExample: fota job reboot --devices sim-1,sim-2 --wait',
    own: () => ({}),
  }),
  scheduleCommand({
    verb: 'factory-reset', type: 'factory-reset', summary: 'factory-reset devices (a fleet job)',
    usage: 'Usage: fota job factory-reset --devices LIST [options]\n\nExecutes /3/0/5 (Factory Reset) on every device: their data is erased.\nExample: fota job factory-reset --devices sim-3 --id reset-sim-3',
    own: () => ({}),
  }),
  scheduleCommand({
    verb: 'config-update', type: 'configuration-update', summary: 'change agent configuration keys on devices',
    usage: `Usage: fota job config-update --devices LIST --set KEY=VALUE … [options]

Writes agent configuration keys on every device. VALUE is JSON when it parses (30, true, "x"), else text.
Example: fota job config-update --devices @fleet.txt --set download.retries=20 --set logLevel=warn
(the keys a hub may change: Object 26241 in docs/protocol.md; logLevel is info, warn or error)

  --set KEY=VALUE  a configuration key and its value; repeat for more`,
    options: { set: { type: 'string', multiple: true } },
    own: (args) => ({ config: parseSets(strs(args.values.set), 'KEY') }),
  }),
  scheduleCommand({
    verb: 'read', type: 'read-device-properties', summary: 'read LwM2M resources from devices (values printed with --wait)',
    usage: `Usage: fota job read --devices LIST --paths P1,P2 [options]

Reads LwM2M paths from every device. With --wait, prints "DEVICE  PATH  VALUE" lines when the job ends.
Example: fota job read --devices sim-1,sim-2 --paths /3/0/3,/3/0/10 --wait

  --paths LIST     LwM2M paths, comma separated (/3/0/3 firmware version, /3/0/10 free memory)`,
    options: { paths: { type: 'string' } },
    own: (args) => ({ paths: requireOpt(args, 'paths').split(',').map((p) => p.trim()).filter((p) => p !== '') }),
  }),
  scheduleCommand({
    verb: 'write', type: 'write-device-properties', summary: 'write LwM2M resources on devices',
    usage: `Usage: fota job write --devices LIST --set PATH=VALUE … [options]

Writes LwM2M resources on every device. VALUE is JSON when it parses, else text.
Example: fota job write --devices @fleet.txt --set /3/0/15=Europe/Berlin --set /3/0/14=+01:00

  --set PATH=VALUE a resource path and its value; repeat for more`,
    options: { set: { type: 'string', multiple: true } },
    own: (args) => ({ values: parseSets(strs(args.values.set), 'PATH') }),
  }),
];

const list: Command = {
  name: 'job list',
  summary: 'list fleet jobs (filter by status, type or the query language)',
  usage: `Usage: fota job list [--status S] [--type T] [--filter JSON] [--sort KEY] [--limit N] [--all] [--json]

Lists fleet jobs (parents), newest first. Options combine with AND.
  --status S     Queued, Running, Completed, Failed, Cancelled (comma list = any of them)
  --type T       firmware-update, reboot, factory-reset, configuration-update, read-device-properties,
                 write-device-properties (comma list)
  --filter JSON  a filter of the query language (docs/jobs.md), bare or wrapped as {"filter": …}, or @FILE
  --sort KEY     a property, ascending: --sort StartTime; descending: --sort=-StartTime (default
                 -CreatedTime); a comma list sorts by several keys
  --limit N      at most N jobs (default 50)
  --all          also list the device jobs (children), e.g. to search by DeviceId
  --json         print the jobs as a JSON array
${HUB_HELP}

Examples: fota job list --status Running --sort=-StartTime
          fota job list --all --filter '{"type":"comparison","property":"DeviceId","comparisonOperator":"eq","value":"sim-1"}'`,
  options: {
    status: { type: 'string', multiple: true }, type: { type: 'string', multiple: true }, filter: { type: 'string' },
    sort: { type: 'string', multiple: true }, limit: { type: 'string' }, all: { type: 'boolean' }, json: { type: 'boolean' }, hub: { type: 'string' },
  },
  run: (args) => {
    const query = listQuery(args);
    const limit = intOpt(args, 'limit') ?? 50;
    if (limit < 1 || limit > 100_000) throw usageError(`--limit must be 1..100000 (got ${limit})`);
    return withClient(args, 'job list', async (c) => {
      const jobs: JobRecord[] = [];
      let total = 0;
      let cursor: string | undefined;
      do {
        const page = await c.queryJobHistory({ ...query, page: { size: Math.min(1000, limit - jobs.length), ...(cursor ? { cursor } : {}) } });
        jobs.push(...page.jobs);
        total = page.total;
        cursor = page.nextPage;
      } while (cursor && jobs.length < limit);
      if (args.values.json) {
        console.log(JSON.stringify(jobs, null, 2));
        return EXIT.ok;
      }
      const width = termSize('columns');
      for (const line of jobListLines(jobs, width === undefined ? undefined : width - 1)) console.log(line);
      const hint = jobs.length === 0 && args.values.all !== true ? ' (only fleet jobs are listed; --all includes device jobs)' : jobs.length < total ? ' (raise --limit for more)' : '';
      process.stderr.write(`${jobs.length} of ${total} job${total === 1 ? '' : 's'}${hint}\n`);
      return EXIT.ok;
    });
  },
};

const show: Command = {
  name: 'job show',
  summary: 'show a fleet job and its devices, or one device job with its log',
  usage: `Usage: fota job show ID [--wait] [--json]

ID is a fleet job (prints the job, its devices' counts and a table of every device) or a device job
PARENT~DEVICE (prints its results and log).
  --wait   follow the job until it ends (exit 0 completed, 1 failed or cancelled; Ctrl-C stops waiting). Each
           second it asks the hub for the counts and only the devices the screen shows (running and failed
           first), so following a 10,000-device job costs the hub little. Not on a terminal, a job of more
           than 100 devices is logged as its counts when they change and one line per device that fails
  --json   print the job, its counts and every device as JSON
Without --wait, the table and --json list every device: the hub sends them 1000 a request, so a large job
costs time and memory in proportion (O(devices)); for a look at a running job prefer --wait.
${HUB_HELP}

Example: fota job show fw-20261127-163045`,
  options: { json: { type: 'boolean' }, wait: { type: 'boolean' }, hub: { type: 'string' } },
  positionals: { min: 1, max: 1 },
  run: (args) =>
    withClient(args, 'job show', async (c) => {
      const id = args.positionals[0] as string;
      if (args.values.wait) return follow(c, id, { json: args.values.json === true });
      const d = await c.getJobWithAllChildren(id);
      if (args.values.json) console.log(JSON.stringify(d, null, 2));
      else if (d.job.ParentJobId !== '') for (const line of childDetailLines(d.job)) console.log(line);
      else {
        const width = termSize('columns');
        for (const line of renderJobTable(d, width === undefined ? {} : { width: width - 1 })) console.log(line);
        console.log(`created ${when(d.job.CreatedTime)}, started ${when(d.job.StartTime)}, ended ${when(d.job.EndTime)}; parameters ${JSON.stringify(d.job.Parameters)}`);
      }
      return EXIT.ok;
    }),
};

const cancel: Command = {
  name: 'job cancel',
  summary: 'cancel a fleet job (or one device job)',
  usage: `Usage: fota job cancel ID [--json]

Cancels a fleet job: queued devices are not started, running ones are cancelled where LwM2M allows it
(an update that is already installing finishes). ID may also be one device job PARENT~DEVICE.
  --json   print the job record as JSON
${HUB_HELP}

Example: fota job cancel fw-20261127-163045`,
  options: { hub: { type: 'string' }, json: { type: 'boolean' } },
  positionals: { min: 1, max: 1 },
  run: (args) =>
    withClient(args, 'job cancel', async (c) => {
      const job = await c.cancelJob(args.positionals[0] as string);
      if (args.values.json) return (console.log(JSON.stringify(job, null, 2)), EXIT.ok);
      console.log(job.Status === 'Cancelled' ? `cancelled ${job.JobId}` : `${job.JobId} is ${job.Status}${isTerminal(job.Status) ? ' (it had already ended)' : ''}`);
      return EXIT.ok;
    }),
};

export const JOB_COMMANDS: Command[] = [...schedules, list, show, cancel];
