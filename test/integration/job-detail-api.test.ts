// GET /v1/jobs/:id of a fleet job larger than a page, on a real port (the HTTP API over FakeJobService, whose get()
// is the hub's jobDetail on a real JobStore): the counts per status, `children=N` and its bound, cursor paging.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHttpApi, type HttpApi } from '../../hub/api/http-api.js';
import { JobClient } from '../../hub/job-client.js';
import { FakeJobService } from '../helpers/fake-job-service.js';
import { LARGE_COUNTS as COUNTS, LARGE_DEVICES as DEVICES, LARGE_N as N, LARGE_STATUS_AT as STATUS_AT, seedLargeJob } from '../helpers/large-job.js';

let dir: string;
let service: FakeJobService;
let api: HttpApi;
let client: JobClient;

async function raw(path: string): Promise<{ status: number; text: string; json: any }> {
  const res = await fetch(api.url + path);
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fota-jobdetail-'));
  service = new FakeJobService(join(dir, 'jobs.db'));
  api = await startHttpApi(service, { host: '127.0.0.1', port: 0 });
  client = new JobClient({ url: api.url });
  seedLargeJob(service);
});

afterEach(async () => {
  client.close();
  await api.close();
  service.close();
  await rm(dir, { recursive: true, force: true });
});

describe('GET /v1/jobs/:id of a job larger than a page', () => {
  it('counts every child per status (mixed statuses), with the first 100 children in creation order', async () => {
    const d = await client.getJob('big');
    expect(d.counts).toEqual(COUNTS);
    expect(d.children.map((c) => c.DeviceId)).toEqual(DEVICES.slice(0, 100));
    expect(d.children.map((c) => c.Status)).toEqual(DEVICES.slice(0, 100).map((_, i) => STATUS_AT[i % 10]));
    expect(d.nextPage).toEqual(expect.any(String));
  });

  it('order=attention sends the first N children running first, then failed, queued, cancelled, completed; no cursor', async () => {
    const ofStatus = (st: string) => DEVICES.filter((_, i) => STATUS_AT[i % 10] === st);
    // 300 running fill a page of 250 …
    const a = await client.getJob('big', { children: 250, order: 'attention' });
    expect(a.counts).toEqual(COUNTS);
    expect(a.children.map((c) => c.DeviceId)).toEqual(ofStatus('Running').slice(0, 250));
    expect(a.nextPage).toBeUndefined();
    // … a larger page goes on with the failed, then the queued, each in creation order
    const b = await client.getJob('big', { children: 1000, order: 'attention' });
    expect(b.children.map((c) => c.DeviceId)).toEqual([...ofStatus('Running'), ...ofStatus('Failed'), ...ofStatus('Queued').slice(0, 550)]);
    // statuses with no child cost no query and leave no gap: all running end, the failed come first
    service.store.batch(() => ofStatus('Running').forEach((d) => service.store.update(`big~${d}`, { Status: 'Completed' })));
    const c = await client.getJob('big', { children: 10, order: 'attention' });
    expect(c.children.map((k) => k.DeviceId)).toEqual(ofStatus('Failed').slice(0, 10));
    expect(c.counts).toMatchObject({ Running: 0, Completed: 600 });
    expect((await raw('/v1/jobs/big?children=0&order=attention')).json.children).toEqual([]);
    const withCursor = await raw(`/v1/jobs/big?children=10&order=attention&cursor=${encodeURIComponent(a.nextPage ?? 'x')}`);
    expect(withCursor.status).toBe(400);
    expect(withCursor.json.error.message).toMatch(/cursor.*does not go with order=attention/);
    const bad = await raw('/v1/jobs/big?order=newest');
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toMatch(/order.*must be created .* or attention/);
  });

  it('children=0 sends the job and the counts only: a few hundred bytes for 1,500 devices', async () => {
    const a = await raw('/v1/jobs/big?children=0');
    expect(a.status).toBe(200);
    expect(a.json).toEqual({ job: expect.objectContaining({ JobId: 'big' }), counts: COUNTS, children: [] });
    expect(a.text.length).toBeLessThan(1500);
  });

  it('sends at most 1000 children; more is a 400 that says how to page, as are bad values', async () => {
    const max = await client.getJob('big', { children: 1000 });
    expect(max.children).toHaveLength(1000);
    const over = await raw('/v1/jobs/big?children=1001');
    expect(over.status).toBe(400);
    expect(over.json.error.code).toBe('invalid-query');
    expect(over.json.error.message).toMatch(/^children: at most 1000 per answer \(got 1001\); for more, follow nextPage: GET \/v1\/jobs\/big\?children=1000&cursor=NEXTPAGE/);
    for (const bad of ['children=-1', 'children=ten', 'children=', 'children=0&cursor=abc', 'cursor=not-a-cursor']) {
      expect((await raw(`/v1/jobs/big?${bad}`)).json.error.code, bad).toBe('invalid-query');
    }
    const unknown = await raw('/v1/jobs/big?size=5');
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toMatchObject({ code: 'invalid-request', message: expect.stringMatching(/unknown query parameter "size" \(use children, cursor, order\)/) });
  });

  it('paging with the cursor yields every child exactly once, in creation order, while children change status', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const d = await client.getJob('big', cursor === undefined ? { children: 400 } : { children: 400, cursor });
      expect(d.children.length).toBeLessThanOrEqual(400);
      expect(d.counts.Queued + d.counts.Running + d.counts.Completed + d.counts.Failed + d.counts.Cancelled).toBe(N);
      seen.push(...d.children.map((c) => c.DeviceId));
      cursor = d.nextPage;
      // the fleet moves between pages: children ahead of the cursor and behind it change status
      for (const i of [pages * 400 + 10, pages * 400 + 500, N - 1]) if (i < N && STATUS_AT[i % 10] === 'Queued') service.setChild('big', DEVICES[i] as string, { Status: 'Running' });
      pages++;
    } while (cursor !== undefined);
    expect(pages).toBe(4);
    expect(seen).toEqual(DEVICES);
  });

  it("the GET's cursor pages on in POST /v1/jobs/query (same parent filter, sort CreatedTime)", async () => {
    const first = await client.getJob('big', { children: 10 });
    const page = await client.queryJobHistory({ filter: { type: 'comparison', property: 'ParentJobId', comparisonOperator: 'eq', value: 'big' }, sort: 'CreatedTime', page: { size: 10, cursor: first.nextPage as string } });
    expect(page.jobs.map((j) => j.DeviceId)).toEqual(DEVICES.slice(10, 20));
  });

  it('a job of 100 devices still comes whole by default (old clients), and a device job has zero counts', async () => {
    service.schedule({ jobId: 'small', type: 'reboot', deviceIds: DEVICES.slice(0, 100), parameters: { timeoutSeconds: 60 } });
    const d = await raw('/v1/jobs/small');
    expect(d.json.children).toHaveLength(100);
    expect(d.json.nextPage).toBeUndefined();
    expect(d.json.counts).toEqual({ Queued: 100, Running: 0, Failed: 0, Completed: 0, Cancelled: 0 });
    const child = await client.getJob('big~d-0004');
    expect(child).toEqual({ job: expect.objectContaining({ JobId: 'big~d-0004', Status: 'Running' }), counts: { Queued: 0, Running: 0, Failed: 0, Completed: 0, Cancelled: 0 }, children: [] });
  });
});
