// The hub's HTTP API on a real port against FakeJobService (a real JobStore in a temp file): every route, every
// error status with its code, auth and browser guards, bad and oversized bodies, and JobClient end to end.

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../../hub/api/request-body.js';
import { startHttpApi, type HttpApi } from '../../hub/api/http-api.js';
import { JobClient, JobClientError } from '../../hub/job-client.js';
import { JobStoreError } from '../../hub/jobs/job-model.js';
import { FakeJobService } from '../helpers/fake-job-service.js';

const PKG = 'https://fw.example/os-2.4.0.fota';
let dir: string;
let service: FakeJobService;
let api: HttpApi;
let logs: string[];
const cleanups: (() => Promise<void> | void)[] = [];

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  // any: the assertions read arbitrary fields of arbitrary answers
  json: any;
}

function call(method: string, path: string, opts: { body?: string | Buffer; headers?: Record<string, string>; base?: string } = {}): Promise<Answer> {
  const url = new URL(path, opts.base ?? api.url);
  const headers: Record<string, string | number> = { ...opts.headers };
  if (opts.body !== undefined) {
    headers['Content-Type'] ??= 'application/json';
    headers['Content-Length'] = Buffer.byteLength(opts.body);
  }
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}
const post = (path: string, body: unknown, headers?: Record<string, string>) => call('POST', path, { body: JSON.stringify(body), ...(headers ? { headers } : {}) });
const schedule = (jobId: string, deviceIds = ['dev-1', 'dev-2'], type = 'reboot', parameters: object = { timeoutSeconds: 60 }) => post('/v1/jobs', { jobId, type, deviceIds, parameters });
const errorOf = (a: Answer) => ({ status: a.status, code: a.json?.error?.code });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fota-hubapi-'));
  service = new FakeJobService(join(dir, 'jobs.db'));
  logs = [];
  api = await startHttpApi(service, { host: '127.0.0.1', port: 0, log: (l) => logs.push(l), version: '9.9.9-test' });
});

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  await api.close();
  service.close();
  await rm(dir, { recursive: true, force: true });
});

describe('routes', () => {
  it('GET /v1/health answers ok and the version', async () => {
    const a = await call('GET', '/v1/health');
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toMatch(/^application\/json/);
    expect(a.json).toEqual({ ...service.healthState, version: '9.9.9-test' });
  });

  it('GET /v1/health answers 503 with the reason while the broker is lost or the database locked', async () => {
    service.healthState = { ok: false, broker: { connected: false, since: '2024-01-01T00:00:00.000Z' }, database: { writable: false, lockedSeconds: 7 } };
    const a = await call('GET', '/v1/health');
    expect(a.status).toBe(503);
    expect(a.headers['retry-after']).toBe('5');
    expect(a.json).toMatchObject({ ok: false, broker: { connected: false }, database: { writable: false, lockedSeconds: 7 }, error: { code: 'unavailable' } });
    expect((a.json as { error: { message: string } }).error.message).toBe(
      'the hub cannot work now: no connection to the broker since 2024-01-01T00:00:00.000Z; the job database has been locked by another process for 7 s',
    );
  });

  it('answers 503 busy with Retry-After when the job database is locked', async () => {
    service.failNext('schedule', new JobStoreError('busy', 'could not create job j: another process holds the job database\'s lock; nothing was changed; try again shortly'));
    const a = await schedule('j');
    expect(a.status).toBe(503);
    expect(a.headers['retry-after']).toBe('5');
    expect(a.json).toMatchObject({ error: { code: 'busy' } });
  });

  it('POST /v1/jobs creates the parent and one child per device (201, Location)', async () => {
    const a = await schedule('fw-1', ['dev-1', 'dev-2', 'dev-3'], 'firmware-update', { timeoutSeconds: 900, packageUri: PKG, maxInFlight: 2 });
    expect(a.status).toBe(201);
    expect(a.headers.location).toBe('/v1/jobs/fw-1');
    expect(a.json).toMatchObject({ JobId: 'fw-1', ParentJobId: '', Type: 'firmware-update', Status: 'Queued', Parameters: { timeoutSeconds: 900, packageUri: PKG, maxInFlight: 2 } });
    expect(service.store.children('fw-1').map((c) => c.JobId)).toEqual(['fw-1~dev-1', 'fw-1~dev-2', 'fw-1~dev-3']);
  });

  it('GET /v1/jobs/:id gives the parent with its children, and a child (URL-encoded ~) alone', async () => {
    await schedule('fw-1');
    service.setChild('fw-1', 'dev-2', { Status: 'Failed', ErrorCode: 'boot-failed', UpdateResult: 8 });
    const parent = await call('GET', '/v1/jobs/fw-1');
    expect(parent.status).toBe(200);
    expect(parent.json.job).toMatchObject({ JobId: 'fw-1', Status: 'Running' });
    expect(parent.json.children.map((c: { DeviceId: string; Status: string }) => `${c.DeviceId}:${c.Status}`)).toEqual(['dev-1:Queued', 'dev-2:Failed']);
    const child = await call('GET', '/v1/jobs/fw-1%7Edev-2');
    expect(child.status).toBe(200);
    expect(child.json).toMatchObject({ job: { JobId: 'fw-1~dev-2', ErrorCode: 'boot-failed', UpdateResult: 8 }, children: [] });
  });

  it('POST /v1/jobs/:id/cancel cancels the parent and its unfinished children', async () => {
    await schedule('r-1');
    service.setChild('r-1', 'dev-1', { Status: 'Completed' });
    const a = await call('POST', '/v1/jobs/r-1/cancel');
    expect(a.status).toBe(200);
    expect(a.json).toMatchObject({ JobId: 'r-1', Status: 'Cancelled' });
    expect(service.store.children('r-1').map((c) => c.Status)).toEqual(['Completed', 'Cancelled']);
    expect((await post('/v1/jobs/r-1/cancel', {})).status).toBe(200); // {} is an empty body too
  });

  it('POST /v1/jobs/query runs the query language, with total and cursor paging', async () => {
    for (const id of ['a-1', 'a-2', 'a-3']) await schedule(id);
    service.setChild('a-2', 'dev-1', { Status: 'Running' });
    const running = await post('/v1/jobs/query', { filter: { type: 'comparison', property: { name: 'Status', type: 'default' }, comparisonOperator: 'eq', value: 'Running' }, sort: 'JobId' });
    expect(running.status).toBe(200);
    expect(running.json.jobs.map((j: { JobId: string }) => j.JobId)).toEqual(['a-2', 'a-2~dev-1']);
    const parents = { filter: { type: 'comparison', property: 'ParentJobId', comparisonOperator: 'eq', value: '' }, sort: ['JobId'] };
    const p1 = await post('/v1/jobs/query', { ...parents, page: { size: 2 } });
    expect(p1.json).toMatchObject({ total: 3 });
    expect(p1.json.jobs.map((j: { JobId: string }) => j.JobId)).toEqual(['a-1', 'a-2']);
    const p2 = await post('/v1/jobs/query', { ...parents, page: { size: 2, cursor: p1.json.nextPage } });
    expect(p2.json.jobs.map((j: { JobId: string }) => j.JobId)).toEqual(['a-3']);
    expect(p2.json.nextPage).toBeUndefined();
    expect((await call('POST', '/v1/jobs/query')).json.total).toBe(9); // no body: every job
  });

  it('GET /v1/jobs is the query-string form: status, type, parent, device, sort, size, cursor', async () => {
    await schedule('r-1', ['dev-1', 'dev-2']);
    await schedule('fw-1', ['dev-1'], 'firmware-update', { timeoutSeconds: 60, packageUri: PKG });
    service.setChild('r-1', 'dev-2', { Status: 'Running' });
    const ids = async (q: string) => (await call('GET', `/v1/jobs?${q}`)).json.jobs.map((j: { JobId: string }) => j.JobId);
    expect(await ids('status=Running&sort=JobId')).toEqual(['r-1', 'r-1~dev-2']);
    expect(await ids('type=firmware-update&parent=&sort=JobId')).toEqual(['fw-1']);
    expect(await ids('parent=r-1&sort=-DeviceId')).toEqual(['r-1~dev-2', 'r-1~dev-1']);
    expect(await ids('device=dev-1&sort=JobId')).toEqual(['fw-1~dev-1', 'r-1~dev-1']);
    expect(await ids('status=Queued,Running&parent=&sort=JobId')).toEqual(['fw-1', 'r-1']);
    const first = await call('GET', '/v1/jobs?parent=&sort=JobId&size=1');
    expect(first.json).toMatchObject({ total: 2, jobs: [{ JobId: 'fw-1' }] });
    expect(await ids(`parent=&sort=JobId&size=1&cursor=${encodeURIComponent(first.json.nextPage)}`)).toEqual(['r-1']);
  });

  it('GET /v1/devices lists what the service knows', async () => {
    service.deviceList = [{ deviceId: 'dev-1', online: true, agentVersion: '1.2.0', registeredAt: '2026-01-01T00:00:00.000Z' }];
    const a = await call('GET', '/v1/devices');
    expect(a.status).toBe(200);
    expect(a.json).toEqual(service.deviceList);
  });

  it('GET /v1/jobs/query reads a job named "query"; POST /v1/jobs/query is the query', async () => {
    expect(errorOf(await call('GET', '/v1/jobs/query'))).toEqual({ status: 404, code: 'not-found' });
    await schedule('query');
    expect((await call('GET', '/v1/jobs/query')).json.job.JobId).toBe('query');
  });
});

describe('errors', () => {
  it('answers each failure with its status and code, and keeps serving', async () => {
    await schedule('dup');
    const cases: [() => Promise<Answer>, number, string][] = [
      [() => schedule('dup'), 409, 'duplicate-job'],
      [() => schedule('bad id!'), 400, 'invalid-job'],
      [() => schedule('x-1', ['dev-1'], 'reboot', { timeoutSeconds: 60, packageUri: PKG }), 400, 'invalid-job'],
      [() => schedule('x-2', ['dev-1'], 'teleport'), 400, 'invalid-job'],
      [() => schedule('x-3', ['bad device']), 400, 'invalid-job'],
      [() => post('/v1/jobs', { jobId: 'x-4', type: 'reboot', deviceIds: ['d'], parameters: { timeoutSeconds: 1 }, colour: 'red' }), 400, 'invalid-request'],
      [() => post('/v1/jobs', { jobId: 'x-5', type: 'reboot', deviceIds: 'd', parameters: { timeoutSeconds: 1 } }), 400, 'invalid-request'],
      [() => post('/v1/jobs', [1, 2]), 400, 'invalid-request'],
      [() => call('POST', '/v1/jobs', { body: '{"jobId": "x-6", ' }), 400, 'bad-json'],
      [() => call('GET', '/v1/jobs/nope'), 404, 'not-found'],
      [() => call('POST', '/v1/jobs/nope/cancel'), 404, 'not-found'],
      [() => post('/v1/jobs/dup/cancel', { force: true }), 400, 'invalid-request'],
      [() => call('GET', '/v1/jobs/bad%20id'), 400, 'invalid-job'],
      [() => call('GET', '/v1/jobs/a%2Fb'), 400, 'invalid-job'],
      [() => call('GET', '/v1/jobs/%E0%A4%A'), 400, 'invalid-job'],
      [() => call('GET', '/v1/jobs/p~bad%20device'), 400, 'invalid-job'],
      [() => call('GET', '/v1/nothing'), 404, 'not-found'],
      [() => call('GET', '/'), 404, 'not-found'],
      [() => call('GET', '/v1/jobs/'), 404, 'not-found'],
      [() => call('DELETE', '/v1/jobs/dup'), 405, 'method-not-allowed'],
      [() => call('GET', '/v1/jobs?colour=red'), 400, 'invalid-request'],
      [() => call('GET', '/v1/jobs?status=running'), 400, 'invalid-query'],
      [() => call('GET', '/v1/jobs?size=5000'), 400, 'invalid-query'],
      [() => call('GET', '/v1/jobs?size=ten'), 400, 'invalid-query'],
      [() => call('GET', '/v1/jobs?sort=Colour'), 400, 'invalid-query'],
      [() => call('GET', '/v1/jobs?cursor=garbage'), 400, 'invalid-query'],
    ];
    for (const [send, status, code] of cases) {
      const a = await send();
      expect({ case: send.toString(), status: a.status, code: a.json?.error?.code, message: typeof a.json?.error?.message }).toEqual({ case: send.toString(), status, code, message: 'string' });
    }
    expect((await call('GET', '/v1/health')).status).toBe(200);
  });

  it('names what is wrong in the message', async () => {
    expect((await schedule('x-1', ['dev-1'], 'reboot', { timeoutSeconds: 0 })).json.error.message).toMatch(/timeoutSeconds must be an integer 1\.\.604800/);
    expect((await call('GET', '/v1/jobs?status=running')).json.error.message).toBe("status: takes one of Queued, Running, Completed, Failed, Cancelled (got 'running')");
    expect((await post('/v1/jobs', { jobId: 'x', type: 'reboot', deviceIds: [], parameters: {}, colour: 1 })).json.error.message).toMatch(/unknown field "colour"/);
  });

  it('passes the QueryError message through with 400 invalid-query', async () => {
    const a = await post('/v1/jobs/query', { filter: { type: 'comparison', property: 'Status', comparisonOperator: 'like', value: 'Running' } });
    expect(a.status).toBe(400);
    expect(a.json).toEqual({ error: { code: 'invalid-query', message: "filter.comparisonOperator: unknown operator 'like' (use eq, ne, lt, lte, gt, gte)" } });
    const b = await post('/v1/jobs/query', { filtr: {} });
    expect(b.json.error.message).toBe('query.filtr: unknown key (allowed here: filter, sort, page)');
  });

  it('405 says which methods the path takes (Allow)', async () => {
    const a = await call('PUT', '/v1/jobs');
    expect(a.status).toBe(405);
    expect(a.headers.allow).toBe('GET, POST');
    expect((await call('POST', '/v1/jobs/fw-1')).headers.allow).toBe('GET');
    expect((await call('DELETE', '/v1/jobs/query')).headers.allow).toBe('POST, GET');
  });

  it('refuses a body over 1 MiB with 413 and accepts one of exactly 1 MiB', async () => {
    const big = await call('POST', '/v1/jobs', { body: Buffer.alloc(MAX_BODY_BYTES + 1, 0x20) });
    expect(errorOf(big)).toEqual({ status: 413, code: 'payload-too-large' });
    const json = JSON.stringify({ jobId: 'big', type: 'reboot', deviceIds: ['dev-1'], parameters: { timeoutSeconds: 60 } });
    const exact = await call('POST', '/v1/jobs', { body: json + ' '.repeat(MAX_BODY_BYTES - json.length) });
    expect(exact.status).toBe(201);
    expect(service.calls.filter((c) => c.method === 'schedule')).toHaveLength(1);
  });

  it('a failure inside the service is a 500 without details; the stack goes to the log only', async () => {
    service.failNext('devices', new Error('secret-detail at /etc/x'));
    const a = await call('GET', '/v1/devices');
    expect(errorOf(a)).toEqual({ status: 500, code: 'internal' });
    expect(a.text).not.toMatch(/secret-detail|at .*\.ts/);
    expect(logs.join('\n')).toMatch(/secret-detail[\s\S]*hub-api\.test\.ts/);
    service.failNext('query', new JobStoreError('storage', 'could not query jobs: disk I/O error'));
    expect(errorOf(await call('GET', '/v1/jobs'))).toEqual({ status: 500, code: 'storage' });
    service.failNext('schedule', 'a thrown string');
    expect(errorOf(await schedule('s-1'))).toEqual({ status: 500, code: 'internal' });
    expect((await call('GET', '/v1/devices')).status).toBe(200);
  });

  it('answers a malformed HTTP request with 400 JSON and keeps serving', async () => {
    const { port } = new URL(api.url);
    const text = await new Promise<string>((resolve, reject) => {
      const s = connect(Number(port), '127.0.0.1', () => s.write('GARBAGE\r\n\r\n'));
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });
    expect(text).toMatch(/^HTTP\/1\.1 400/);
    expect(text).toMatch(/"code":"invalid-request"/);
    expect((await call('GET', '/v1/health')).status).toBe(200);
  });

  it('a client hanging up in the middle of a body is neither logged as a failure nor fatal', async () => {
    const { port } = new URL(api.url);
    await new Promise<void>((resolve, reject) => {
      const s = connect(Number(port), '127.0.0.1', () => {
        s.write('POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"jobId":');
        setImmediate(() => (s.destroy(), resolve()));
      });
      s.on('error', reject);
    });
    expect((await call('GET', '/v1/health')).status).toBe(200);
    expect(service.calls.filter((c) => c.method === 'schedule')).toEqual([]);
    expect(logs).toEqual([]);
  });

  it('without a token, refuses browser requests (Origin, Sec-Fetch-Site) and foreign Host names', async () => {
    expect(errorOf(await post('/v1/jobs/x/cancel', {}, { Origin: 'https://evil.example' }))).toEqual({ status: 403, code: 'forbidden' });
    expect(errorOf(await call('GET', '/v1/jobs', { headers: { 'Sec-Fetch-Site': 'cross-site' } }))).toEqual({ status: 403, code: 'forbidden' });
    expect(errorOf(await call('GET', '/v1/jobs', { headers: { Host: 'rebound.evil.example:8640' } }))).toEqual({ status: 403, code: 'forbidden' });
    expect((await call('GET', '/v1/jobs', { headers: { Host: 'localhost:8640', 'Sec-Fetch-Site': 'none' } })).status).toBe(200);
    expect(service.calls.filter((c) => c.method === 'cancel')).toEqual([]);
  });
});

describe('auth', () => {
  let secured: HttpApi;
  beforeEach(async () => {
    secured = await startHttpApi(service, { port: 0, token: 's3cret-token', log: (l) => logs.push(l) });
  });
  afterEach(() => secured.close());
  const base = () => secured.url;

  it('needs the bearer token on every route but health', async () => {
    const none = await call('GET', '/v1/jobs', { base: base() });
    expect(errorOf(none)).toEqual({ status: 401, code: 'unauthorized' });
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(errorOf(await call('GET', '/v1/jobs', { base: base(), headers: { Authorization: 'Bearer s3cret-tokeN' } }))).toEqual({ status: 401, code: 'unauthorized' });
    expect(errorOf(await call('GET', '/v1/jobs', { base: base(), headers: { Authorization: 'Bearer s3cret' } }))).toEqual({ status: 401, code: 'unauthorized' });
    expect(errorOf(await call('GET', '/v1/jobs', { base: base(), headers: { Authorization: 's3cret-token' } }))).toEqual({ status: 401, code: 'unauthorized' });
    expect(errorOf(await call('GET', '/v1/nothing', { base: base() }))).toEqual({ status: 401, code: 'unauthorized' }); // no route probing
    expect((await call('GET', '/v1/jobs', { base: base(), headers: { Authorization: 'Bearer s3cret-token' } })).status).toBe(200);
    expect((await call('GET', '/v1/jobs', { base: base(), headers: { Authorization: 'bearer s3cret-token' } })).status).toBe(200);
    expect((await call('GET', '/v1/health', { base: base() })).status).toBe(200);
    expect(service.calls.filter((c) => c.method === 'query')).toHaveLength(2);
    expect(logs.some((l) => l.includes('401') && !l.includes('s3cret'))).toBe(true);
  });

  it('refuses to start on a non-loopback address without a token, or with a bad token', async () => {
    await expect(startHttpApi(service, { host: '0.0.0.0', port: 0 })).rejects.toThrow(/without a token/);
    await expect(startHttpApi(service, { host: '192.0.2.10', port: 0 })).rejects.toThrow(/without a token/);
    await expect(startHttpApi(service, { host: '::', port: 0 })).rejects.toThrow(/without a token/);
    await expect(startHttpApi(service, { port: 0, token: '' })).rejects.toThrow(/printable ASCII/);
    await expect(startHttpApi(service, { port: 0, token: 'has space' })).rejects.toThrow(/printable ASCII/);
  });

  it('JobClient sends the token; without it the hub answers 401', async () => {
    const good = new JobClient({ url: base(), token: 's3cret-token' });
    const bad = new JobClient({ url: base() });
    cleanups.push(() => good.close(), () => bad.close());
    expect((await good.scheduleReboot('r-1', ['dev-1'])).JobId).toBe('r-1');
    await expect(bad.getJob('r-1')).rejects.toMatchObject({ name: 'JobClientError', status: 401, code: 'unauthorized' });
  });
});

describe('lifecycle', () => {
  it('close() drops keep-alive connections, is idempotent, and the port stops answering', async () => {
    const c = new JobClient({ url: api.url });
    cleanups.push(() => c.close());
    expect((await c.health()).ok).toBe(true); // leaves a keep-alive socket open
    await api.close();
    await api.close();
    await expect(c.health()).rejects.toMatchObject({ code: 'hub-unreachable' });
  });

  it('rejects when the port is taken', async () => {
    const { port } = new URL(api.url);
    await expect(startHttpApi(service, { port: Number(port) })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});

describe('JobClient', () => {
  let c: JobClient;
  beforeEach(() => {
    c = new JobClient({ url: api.url });
  });
  afterEach(() => c.close());

  it('schedules every job type with the right parameters and defaults', async () => {
    const fw = await c.scheduleFirmwareUpdate('fw-1', ['dev-1', 'dev-2'], PKG, undefined, { maxInFlight: 1, abortFailureRatio: 0.5 });
    expect(fw).toMatchObject({ JobId: 'fw-1', Type: 'firmware-update', Parameters: { timeoutSeconds: 1500, packageUri: PKG, maxInFlight: 1, abortFailureRatio: 0.5 } });
    expect((await c.scheduleReboot('rb-1', ['dev-1'])).Parameters).toEqual({ timeoutSeconds: 300 });
    expect((await c.scheduleFactoryReset('fr-1', ['dev-1'], 120)).Parameters).toEqual({ timeoutSeconds: 120 });
    expect(await c.scheduleConfigurationUpdate('cfg-1', ['dev-1'], { pollIntervalSeconds: 60, logLevel: 'debug' })).toMatchObject({ Type: 'configuration-update', Parameters: { timeoutSeconds: 300, config: { pollIntervalSeconds: 60, logLevel: 'debug' } } });
    expect(await c.scheduleDevicePropertyRead('rd-1', ['dev-1'], ['/3/0/3', '/3/0/10'])).toMatchObject({ Type: 'read-device-properties', Parameters: { paths: ['/3/0/3', '/3/0/10'] } });
    expect(await c.scheduleDevicePropertyWrite('wr-1', ['dev-1'], { '/3/0/15': 'Europe/Berlin' }, 30, { maxInFlight: 5 })).toMatchObject({ Type: 'write-device-properties', Parameters: { timeoutSeconds: 30, maxInFlight: 5, values: { '/3/0/15': 'Europe/Berlin' } } });
    expect(service.store.children('fw-1')).toHaveLength(2);
  });

  it('gets, cancels, queries and lists devices', async () => {
    await c.scheduleDevicePropertyRead('rd-1', ['dev-1', 'dev-2'], ['/3/0/3']);
    service.setChild('rd-1', 'dev-1', { Status: 'Completed', Values: { '/3/0/3': '2.4.0' } });
    const d = await c.getJob('rd-1');
    expect(d.job.Status).toBe('Running');
    expect(d.children[0]).toMatchObject({ DeviceId: 'dev-1', Values: { '/3/0/3': '2.4.0' } });
    expect((await c.getJob('rd-1~dev-1')).children).toEqual([]);
    const page = await c.queryJobHistory({ filter: { type: 'comparison', property: 'Status', comparisonOperator: 'eq', value: 'Completed' } });
    expect(page).toMatchObject({ total: 1, jobs: [{ JobId: 'rd-1~dev-1' }] });
    expect((await c.queryJobHistory()).total).toBe(3);
    expect(await c.cancelJob('rd-1')).toMatchObject({ Status: 'Cancelled' });
    expect((await c.getJob('rd-1~dev-2')).job.Status).toBe('Cancelled');
    service.deviceList = [{ deviceId: 'dev-1', online: null, agentVersion: '1.0.0', registeredAt: null }];
    expect(await c.devices()).toEqual(service.deviceList);
    expect(await c.health()).toEqual({ ...service.healthState, version: '9.9.9-test' });
  });

  it('rejects with JobClientError carrying the API status, code and message', async () => {
    await c.scheduleReboot('r-1', ['dev-1']);
    const caught = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as JobClientError);
    const dup = await caught(c.scheduleReboot('r-1', ['dev-1']));
    expect(dup).toBeInstanceOf(JobClientError);
    expect(dup).toMatchObject({ status: 409, code: 'duplicate-job', message: 'job r-1 already exists; choose another id' });
    expect(await caught(c.getJob('nope'))).toMatchObject({ status: 404, code: 'not-found' });
    expect(await caught(c.cancelJob('nope'))).toMatchObject({ status: 404, code: 'not-found' });
    expect(await caught(c.getJob('a/b'))).toMatchObject({ status: 400, code: 'invalid-job' });
    expect(await caught(c.queryJobHistory({ page: { size: 0 } }))).toMatchObject({ status: 400, code: 'invalid-query', message: 'page.size: must be an integer 1..1000 (got 0)' });
    expect(await caught(c.scheduleFirmwareUpdate('fw-x', ['dev-1'], 'ftp://x/y'))).toMatchObject({ status: 400, code: 'invalid-job' });
  });

  it('says how to fix an unreachable hub, a bad URL, a non-hub server and a hub that does not answer', async () => {
    const { port } = new URL(api.url);
    await api.close();
    const down = new JobClient({ url: `http://127.0.0.1:${port}` });
    cleanups.push(() => down.close());
    const e = await down.devices().then(() => new JobClientError(0, 'none', 'resolved'), (x: unknown) => x as JobClientError);
    expect(e).toMatchObject({ status: 0, code: 'hub-unreachable' });
    expect(e.message).toMatch(/ECONNREFUSED.*fota hub.*FOTA_HUB/);
    expect(() => new JobClient({ url: 'ftp://hub' })).toThrow(expect.objectContaining({ code: 'invalid-url' }));
    expect(() => new JobClient({ url: 'not a url' })).toThrow(/http:\/\//);

    const other: Server = createServer((req, res) => (req.url === '/silent/v1/health' ? undefined : res.writeHead(404).end('<html>nope</html>')));
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => (other.closeAllConnections(), other.close(() => r()))));
    const base = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const wrong = new JobClient({ url: base });
    const silent = new JobClient({ url: `${base}/silent`, requestTimeoutMs: 200 });
    cleanups.push(() => wrong.close(), () => silent.close());
    await expect(wrong.health()).rejects.toMatchObject({ status: 404, code: 'bad-response' });
    await expect(silent.health()).rejects.toMatchObject({ status: 0, code: 'timeout' });
  });
});
