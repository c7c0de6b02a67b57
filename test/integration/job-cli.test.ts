// `fota job …` as real processes: cli/main.ts bundled with esbuild (as dist/fota.mjs is, with the job
// commands added to the command table) against the real HTTP API over FakeJobService on a temp-file JobStore.
// --wait is driven from the test: children are moved while the CLI polls.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHttpApi, type HttpApi } from '../../hub/api/http-api.js';
import { JOB_COMMANDS } from '../../cli/commands/job.js';
import { jobPoller } from '../../cli/job-poll.js';
import { JobClient } from '../../hub/job-client.js';
import { FakeJobService } from '../helpers/fake-job-service.js';
import { LARGE_COUNTS, LARGE_DEVICES, LARGE_STATUS_AT, seedLargeJob } from '../helpers/large-job.js';

const REPO = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..');
const PKG = 'https://fw.example/os-2.4.0.fota';

interface Run {
  child: ChildProcess;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** resolves once stdout matches */
  stdoutMatches(re: RegExp): Promise<void>;
}

let tmp: string;
let cli: string;
const procs: ChildProcess[] = [];

function run(args: string[], env: Record<string, string | undefined> = {}): Run {
  const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, FOTA_HUB: api.url, FOTA_HUB_TOKEN: undefined, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(child);
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (const w of waiters.filter((x) => x.re.test(stdout))) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => child.on('close', (code) => res({ code, stdout, stderr })));
  return {
    child,
    done,
    stdoutMatches: (re) =>
      new Promise<void>((res, rej) => {
        if (re.test(stdout)) return res();
        waiters.push({ re, resolve: res });
        void done.then(() => rej(new Error(`the CLI exited before stdout matched ${re}:\n${stdout}\n${stderr}`)));
      }),
  };
}
const fota = (...args: string[]) => run(args).done;

let service: FakeJobService;
let api: HttpApi;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'fota-jobcli-'));
  cli = join(tmp, 'fota.mjs');
  // the bundle imports better-sqlite3 (external, a native addon) by name: let it resolve from the temp dir
  await symlink(join(REPO, 'node_modules'), join(tmp, 'node_modules'), 'dir');
  await build({
    entryPoints: [join(REPO, 'cli/main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node18',
    outfile: cli,
    logLevel: 'error',
    external: ['better-sqlite3', 'onoff', 'epoll'],
    define: { __FOTA_VERSION__: '"test"' },
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
}, 60_000);

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

beforeEach(async () => {
  service = new FakeJobService(join(tmp, `jobs-${Date.now()}-${Math.random().toString(36).slice(2)}.db`));
  api = await startHttpApi(service, { port: 0 });
});

afterEach(async () => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await api.close();
  service.close();
});

describe('fota job: scheduling', () => {
  it('reboot prints the job id and creates one child per device', async () => {
    const r = await fota('job', 'reboot', '--devices', 'dev-1,dev-2', '--id', 'r-1');
    expect(r).toMatchObject({ code: 0, stdout: 'r-1\n' });
    expect(r.stderr).toContain('fota job show r-1 --wait');
    expect(service.store.get('r-1')?.Parameters).toEqual({ timeoutSeconds: 300 });
    expect(service.store.children('r-1').map((c) => c.DeviceId)).toEqual(['dev-1', 'dev-2']);
  });

  it('firmware-update generates a readable id and passes the rollout options', async () => {
    const r = await fota('job', 'firmware-update', '--devices', 'dev-1', '--devices', 'dev-2', '--package', PKG, '--max-in-flight', '2', '--abort-failure-ratio', '0.25');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^fw-\d{8}-\d{6}\n$/);
    const job = service.store.get(r.stdout.trim());
    expect(job).toMatchObject({ Type: 'firmware-update', Parameters: { timeoutSeconds: 1500, packageUri: PKG, maxInFlight: 2, abortFailureRatio: 0.25 } });
    const t = await fota('job', 'firmware-update', '--devices', 'dev-1', '--package', PKG, '--timeout', '25m', '--id', 'fw-t');
    expect(t.code).toBe(0);
    expect(service.store.get('fw-t')?.Parameters.timeoutSeconds).toBe(1500);
    const w = await fota('job', 'reboot', '--devices', 'dev-9', '--id', 'rb-wait', '--wait-for-devices', '--json');
    expect(w.code).toBe(0);
    expect(JSON.parse(w.stdout)).toMatchObject({ JobId: 'rb-wait', Parameters: { timeoutSeconds: 300, waitForDevices: true } });
    expect(service.store.get('fw-t')?.Parameters.allowDowngrade).toBeUndefined();
    const down = await fota('job', 'firmware-update', '--devices', 'dev-1', '--package', PKG, '--allow-downgrade', '--id', 'fw-down');
    expect(down.code).toBe(0);
    expect(service.store.get('fw-down')?.Parameters).toMatchObject({ packageUri: PKG, allowDowngrade: true });
  });

  it('reads --devices @file (comments and blank lines skipped)', async () => {
    const file = join(tmp, 'fleet.txt');
    await writeFile(file, '# lab fleet\ndev-1\n\n  dev-2  # the flaky one\ndev-3\n');
    expect((await fota('job', 'factory-reset', '--devices', `@${file}`, '--id', 'fr-1')).code).toBe(0);
    expect(service.store.children('fr-1').map((c) => c.DeviceId)).toEqual(['dev-1', 'dev-2', 'dev-3']);
  });

  it('config-update, read and write build their parameters (VALUE as JSON when it parses)', async () => {
    expect((await fota('job', 'config-update', '--devices', 'dev-1', '--id', 'c-1', '--set', 'pollIntervalSeconds=60', '--set', 'logLevel=debug', '--set', 'flags={"x":true}')).code).toBe(0);
    expect(service.store.get('c-1')?.Parameters.config).toEqual({ pollIntervalSeconds: 60, logLevel: 'debug', flags: { x: true } });
    expect((await fota('job', 'write', '--devices', 'dev-1', '--id', 'w-1', '--set', '/3/0/15=Europe/Berlin', '--set', '/3/0/14="+01:00"')).code).toBe(0);
    expect(service.store.get('w-1')?.Parameters.values).toEqual({ '/3/0/15': 'Europe/Berlin', '/3/0/14': '+01:00' });
    expect((await fota('job', 'read', '--devices', 'dev-1', '--id', 'rd-1', '--paths', '/3/0/3, /3/0/10')).code).toBe(0);
    expect(service.store.get('rd-1')?.Parameters.paths).toEqual(['/3/0/3', '/3/0/10']);
  });

  it('refuses bad input with one line, a hint and a non-zero exit', async () => {
    const badDevice = await fota('job', 'reboot', '--devices', 'dev 1');
    expect(badDevice.code).toBe(2);
    expect(badDevice.stderr).toMatch(/^fota job reboot: "dev 1" is not a valid device id/);
    expect((await fota('job', 'reboot')).stderr).toContain('--devices is required');
    expect((await fota('job', 'firmware-update', '--devices', 'd')).stderr).toContain('--package is required');
    const hubRefused = await fota('job', 'firmware-update', '--devices', 'd', '--package', 'ftp://x/y', '--id', 'x');
    expect(hubRefused.code).toBe(2);
    expect(hubRefused.stderr).toMatch(/packageUri must be an http:\/\/ or https:\/\/ URL/);
    await fota('job', 'reboot', '--devices', 'd', '--id', 'dup');
    const dup = await fota('job', 'reboot', '--devices', 'd', '--id', 'dup');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toBe('fota job reboot: job dup already exists; choose another id\nchoose another --id, or leave --id out for a generated one\n');
  });
});

describe('fota job --wait (not a TTY)', () => {
  it('prints plain change lines and exits 1 when a device fails', async () => {
    const w = run(['job', 'reboot', '--devices', 'dev-1,dev-2', '--id', 'w-1', '--wait']);
    await w.stdoutMatches(/dev-2 +Queued/);
    service.setChild('w-1', 'dev-1', { Status: 'Running', Progress: 50, StatusMessage: 'rebooting' });
    await w.stdoutMatches(/dev-1 +Running +50% +rebooting/);
    service.setChild('w-1', 'dev-1', { Status: 'Completed' });
    service.setChild('w-1', 'dev-2', { Status: 'Failed', TimedOut: true, StatusMessage: 'no answer' });
    const r = await w.done;
    expect(r.code).toBe(1);
    expect(r.stdout).not.toContain('\x1b');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('w-1');
    expect(lines.filter((l) => l.startsWith('dev-1 '))).toHaveLength(3); // queued, running, completed: once each
    expect(r.stdout).toMatch(/dev-2 +Failed +0% +timed out +no answer/);
    expect(r.stdout).toMatch(/w-1 +reboot +Failed/);
    expect(r.stderr).toContain('job w-1 failed: 1 of 2 devices did not complete');
  });

  it('exits 0 when every device completed, and read --wait prints the values', async () => {
    const w = run(['job', 'read', '--devices', 'dev-1,dev-2', '--paths', '/3/0/3', '--id', 'rd-1', '--wait']);
    await w.stdoutMatches(/DEVICE/);
    service.setChild('rd-1', 'dev-1', { Status: 'Completed', Values: { '/3/0/3': '2.4.0' } });
    service.setChild('rd-1', 'dev-2', { Status: 'Completed', Values: { '/3/0/3': '2.3.1' } });
    const r = await w.done;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('dev-1  /3/0/3  2.4.0\ndev-2  /3/0/3  2.3.1\n');
    expect(r.stderr).toContain('job rd-1 completed on 2 devices');
  });

  it('show --wait follows an existing job; Ctrl-C stops waiting and leaves the job running', async () => {
    service.schedule({ jobId: 'long', type: 'reboot', deviceIds: ['dev-1'], parameters: { timeoutSeconds: 60 } });
    service.setChild('long', 'dev-1', { Status: 'Running' });
    const w = run(['job', 'show', 'long', '--wait']);
    await w.stdoutMatches(/dev-1 +Running/);
    w.child.kill('SIGINT');
    const r = await w.done;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('stopped waiting; job long keeps running on the hub');
    expect(service.store.get('long')?.Status).toBe('Running');
    expect(service.calls.filter((c) => c.method === 'cancel')).toEqual([]);
  });
});

describe('fota job list / show / cancel', () => {
  beforeEach(() => {
    service.schedule({ jobId: 'a-fw', type: 'firmware-update', deviceIds: ['dev-1', 'dev-2'], parameters: { timeoutSeconds: 60, packageUri: PKG } });
    service.schedule({ jobId: 'b-reboot', type: 'reboot', deviceIds: ['dev-1'], parameters: { timeoutSeconds: 60 } });
    service.schedule({ jobId: 'c-read', type: 'read-device-properties', deviceIds: ['dev-3'], parameters: { timeoutSeconds: 60, paths: ['/3/0/3'] } });
    service.setChild('a-fw', 'dev-1', { Status: 'Running', Progress: 30 });
    service.setChild('b-reboot', 'dev-1', { Status: 'Completed' });
  });
  const firstColumn = (stdout: string) => stdout.trim().split('\n').slice(1).map((l) => l.split(' ')[0]);

  it('lists fleet jobs filtered by --status and --type, sorted by --sort', async () => {
    const all = await fota('job', 'list', '--sort', 'JobId');
    expect(all.code).toBe(0);
    expect(firstColumn(all.stdout)).toEqual(['a-fw', 'b-reboot', 'c-read']);
    expect(all.stderr).toBe('3 of 3 jobs\n');
    expect(firstColumn((await fota('job', 'list', '--sort=-JobId')).stdout)).toEqual(['c-read', 'b-reboot', 'a-fw']);
    const ambiguous = await fota('job', 'list', '--sort', '-JobId'); // parseArgs cannot tell a value from an option
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain("'--sort=-XYZ'");
    expect(firstColumn((await fota('job', 'list', '--status', 'running')).stdout)).toEqual(['a-fw']);
    expect(firstColumn((await fota('job', 'list', '--status', 'Queued,Completed', '--sort', 'JobId')).stdout)).toEqual(['b-reboot', 'c-read']);
    expect(firstColumn((await fota('job', 'list', '--type', 'reboot')).stdout)).toEqual(['b-reboot']);
    const limited = await fota('job', 'list', '--sort', 'JobId', '--limit', '2');
    expect(firstColumn(limited.stdout)).toEqual(['a-fw', 'b-reboot']);
    expect(limited.stderr).toContain('2 of 3 jobs (raise --limit for more)');
  });

  it('--filter with --all searches device jobs; --json prints records', async () => {
    const filter = JSON.stringify({ type: 'comparison', property: 'DeviceId', comparisonOperator: 'eq', value: 'dev-1' });
    const none = await fota('job', 'list', '--filter', filter);
    expect(none.stderr).toContain('0 of 0 jobs (only fleet jobs are listed; --all includes device jobs)');
    const r = await fota('job', 'list', '--all', '--filter', filter, '--sort', 'JobId', '--json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { JobId: string }[]).map((j) => j.JobId)).toEqual(['a-fw~dev-1', 'b-reboot~dev-1']);
    // the wrapped shape of docs/operations.md (the API's query) is the same filter; other query keys are refused
    const wrapped = await fota('job', 'list', '--all', '--filter', JSON.stringify({ filter: JSON.parse(filter) }), '--sort', 'JobId', '--json');
    expect(wrapped.code, wrapped.stderr).toBe(0);
    expect(wrapped.stdout).toBe(r.stdout);
    const withSort = await fota('job', 'list', '--filter', JSON.stringify({ filter: JSON.parse(filter), sort: ['JobId'] }));
    expect(withSort.code).toBe(2);
    expect(withSort.stderr).toMatch(/sort belongs to other options/);
  });

  it('a bad --filter is a usage error (exit 2) that says what is wrong', async () => {
    const notJson = await fota('job', 'list', '--filter', '{type: comparison');
    expect(notJson.code).toBe(2);
    expect(notJson.stderr.split('\n')[0]).toMatch(/^fota job list: --filter is not valid JSON: /);
    expect(notJson.stderr.split('\n')[1]).toMatch(/^example: --filter/);
    const badProp = await fota('job', 'list', '--filter', '{"type":"comparison","property":"Colour","comparisonOperator":"eq","value":"red"}');
    expect(badProp.code).toBe(2);
    expect(badProp.stderr).toMatch(/^fota job list: --filter: filter\.property: unknown property 'Colour'/);
    const badSort = await fota('job', 'list', '--sort', 'Colour');
    expect(badSort.code).toBe(2);
    expect(badSort.stderr).toMatch(/^fota job list: --sort: unknown property 'Colour' \(use JobId, /);
    expect((await fota('job', 'list', '--status', 'Sleeping')).code).toBe(2);
    expect(service.calls.filter((c) => c.method === 'query')).toEqual([]); // refused before asking the hub
  });

  it('show prints a fleet job with its device table, a device job with its log, or JSON', async () => {
    const parent = await fota('job', 'show', 'a-fw');
    expect(parent.code).toBe(0);
    expect(parent.stdout).toMatch(/^a-fw  firmware-update  Running  0%  2 devices: 1 queued, 1 running/);
    expect(parent.stdout).toMatch(/\ndev-1 +Running +30%/);
    expect(parent.stdout).toMatch(/\ndev-2 +Queued +0%/);
    service.store.appendLog('a-fw~dev-1', { step: 'uri written', detail: PKG });
    const child = await fota('job', 'show', 'a-fw~dev-1');
    expect(child.stdout).toContain('status     Running');
    expect(child.stdout).toMatch(/log\n {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}uri written {2}https:\/\/fw\.example/);
    const json = await fota('job', 'show', 'b-reboot', '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ job: { JobId: 'b-reboot', Status: 'Completed' }, children: [{ DeviceId: 'dev-1' }] });
    const missing = await fota('job', 'show', 'nope');
    expect(missing).toMatchObject({ code: 1, stderr: 'fota job show: job nope does not exist\nlist jobs with: fota job list\n' });
  });

  it('cancel cancels and says so', async () => {
    const r = await fota('job', 'cancel', 'a-fw');
    expect(r).toMatchObject({ code: 0, stdout: 'cancelled a-fw\n' });
    expect(service.store.children('a-fw').map((c) => c.Status)).toEqual(['Cancelled', 'Cancelled']);
    expect((await fota('job', 'cancel', 'b-reboot')).stdout).toBe('b-reboot is Completed (it had already ended)\n');
  });
});

describe('fota job show: a job larger than one page (1,500 devices)', () => {
  const SUMMARY = 'big  reboot  Running  0%  1500 devices: 600 queued, 300 running, 300 completed, 150 failed, 150 cancelled';
  beforeEach(() => seedLargeJob(service));

  it('--wait polls the counts and a bounded page (never the whole list); its log shows the true counts and each failure once', async () => {
    // a recording hub: how many children each answer carried
    const sent: { what: 'get' | 'query'; children: number }[] = [];
    const get = service.get.bind(service);
    service.get = (id, page) => {
      const d = get(id, page);
      sent.push({ what: 'get', children: d?.children.length ?? 0 });
      return d;
    };
    const query = service.query.bind(service);
    service.query = (q) => {
      const p = query(q);
      sent.push({ what: 'query', children: p.jobs.length });
      return p;
    };
    const w = run(['job', 'show', 'big', '--wait']);
    await w.stdoutMatches(/^DEVICE/m);
    for (let t = Date.now(); sent.filter((x) => x.what === 'get').length < 3; ) {
      if (Date.now() - t > 10_000) throw new Error('the CLI did not poll three times in 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    service.cancel('big');
    const r = await w.done;
    expect(r.code).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(SUMMARY);
    expect(lines[1]).toMatch(/^DEVICE +STATUS/);
    // not a terminal: the 150 failed devices (100 a poll, most sharing one EndTime), each once; no running rows
    const failed = LARGE_DEVICES.filter((_, i) => LARGE_STATUS_AT[i % 10] === 'Failed');
    expect(lines.slice(2, 152).map((l) => l.split(' ')[0]).sort()).toEqual(failed);
    expect(lines.slice(2, 152).every((l) => / Failed /.test(l))).toBe(true);
    expect(lines[152]).toMatch(/^big  reboot  Cancelled  .*1500 devices: 300 completed, 150 failed, 1050 cancelled/);
    expect(lines.slice(153).join('')).toBe('');
    expect(r.stderr).toContain('job big cancelled: 1200 of 1500 devices did not complete');
    expect(Math.max(...sent.map((x) => x.children))).toBeLessThanOrEqual(100);
    expect(sent.filter((x) => x.what === 'get').length).toBeGreaterThanOrEqual(3);
  });

  it('without --wait prints the true counts and every device (paged); --json every device and the counts', async () => {
    const r = await fota('job', 'show', 'big');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(SUMMARY);
    expect(r.stdout.split('\n').filter((l) => /^d-\d{4} /.test(l))).toHaveLength(1500);
    const json = await fota('job', 'show', 'big', '--json');
    const d = JSON.parse(json.stdout) as { counts: object; children: { DeviceId: string }[]; nextPage?: string };
    expect(d.counts).toEqual(LARGE_COUNTS);
    expect(d.children.map((c) => c.DeviceId)).toEqual(LARGE_DEVICES);
    expect(d.nextPage).toBeUndefined();
  });

  it.each([
    ['the hub answers order=attention: one request a poll', false],
    ['an older hub refuses order=attention (400): the counts, then a query per status', true],
  ])('a poll of `rows` brings the running devices first, then the failed ones; %s', async (_what, oldHub) => {
    // an older hub: a proxy that answers 400 to `order`, as parseChildrenPage did before it knew it
    const proxy = createServer((req, res) => {
      if (oldHub && /[?&]order=/.test(req.url ?? '')) return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'invalid-request', message: 'unknown query parameter "order" (use children, cursor)' } }));
      const body: Buffer[] = [];
      req.on('data', (d: Buffer) => body.push(d));
      req.on('end', () => {
        void fetch(api.url + (req.url ?? '/'), { method: req.method ?? 'GET', headers: { 'content-type': 'application/json' }, ...(req.method === 'POST' ? { body: Buffer.concat(body) } : {}) }).then(async (r) => {
          res.writeHead(r.status, { 'content-type': 'application/json' }).end(Buffer.from(await r.arrayBuffer()));
        });
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const requests: string[] = [];
    const get = service.get.bind(service);
    service.get = (id, page) => (requests.push(`get ${page?.order ?? 'created'}`), get(id, page));
    const query = service.query.bind(service);
    service.query = (q) => (requests.push('query'), query(q));
    const c = new JobClient({ url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` });
    try {
      const poll = jobPoller(c, 'big', 20);
      const first = await poll(); // the first answer tells the job is large: created order, as for any job
      expect(first.counts).toEqual(LARGE_COUNTS);
      requests.length = 0;
      const second = await poll();
      expect(second.counts).toEqual(LARGE_COUNTS);
      expect(second.children.map((k) => k.DeviceId)).toEqual(LARGE_DEVICES.filter((_, i) => LARGE_STATUS_AT[i % 10] === 'Running').slice(0, 20));
      expect(requests).toEqual(oldHub ? ['get created', 'query'] : ['get attention']);
      // all but 5 running devices end: 5 running rows, then failed ones fill the rest
      const running = service.store.childrenWithStatus('big', 'Running', 1000);
      service.store.batch(() => running.slice(5).forEach((k) => service.store.update(k.JobId, { Status: 'Completed' })));
      requests.length = 0;
      const third = await poll();
      expect(third.children.map((k) => k.Status)).toEqual([...Array(5).fill('Running'), ...Array(15).fill('Failed')]);
      expect(third.counts).toMatchObject({ Running: 5, Completed: 595 });
      expect(requests).toEqual(oldHub ? ['get created', 'query', 'query'] : ['get attention']);
    } finally {
      c.close();
      await new Promise((r) => proxy.close(r));
    }
  });
});

describe('fota job: hub and help', () => {
  it('an unreachable hub is one clear line', async () => {
    const { port } = new URL(api.url);
    await api.close();
    const r = await fota('job', 'list');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`fota job list: cannot reach the hub at http://127.0.0.1:${port} (ECONNREFUSED); start it with \`fota hub\`, or point --hub / FOTA_HUB at the running hub\n`);
    const wait = await fota('job', 'show', 'x-1', '--wait'); // no answer yet: fail at once, do not ride it out
    expect(wait.code).toBe(1);
    expect(wait.stderr).toContain('cannot reach the hub');
    const badUrl = await run(['job', 'list', '--hub', 'ftp://x']).done;
    expect(badUrl.code).toBe(2);
  });

  it('uses FOTA_HUB_TOKEN, and hints at it when the hub refuses', async () => {
    const secured = await startHttpApi(service, { port: 0, token: 'tok-123' });
    try {
      const ok = await run(['job', 'reboot', '--devices', 'dev-1', '--id', 's-1', '--hub', secured.url], { FOTA_HUB_TOKEN: 'tok-123' }).done;
      expect(ok.code).toBe(0);
      const refused = await run(['job', 'list'], { FOTA_HUB: secured.url }).done;
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('set FOTA_HUB_TOKEN to the token the hub was started with');
    } finally {
      await secured.close();
    }
  });

  it('every job command has --help with an example', async () => {
    for (const c of JOB_COMMANDS) expect(c.usage, c.name).toMatch(/Example/);
    const r = await fota('job', 'firmware-update', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: fota job firmware-update --devices LIST --package URI');
    expect(r.stdout).toContain('--max-in-flight N');
  });
});
