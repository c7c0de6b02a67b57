// The dashboard's pure parts: the device inventory's query (filters, keyset pages, facets), the login rate limit,
// sessions, the live feed's coalescing, the History form's query (what `fota job list` sends), and the browser's
// event-stream parser. Fakes only stand in for the store and the open streams (the feed's logic is what is tested).

import { describe, expect, it } from 'vitest';
import type { IncomingMessage } from 'node:http';
import { browserSession, sameOrigin } from '../../hub/dashboard/browser-auth.js';
import { LiveFeed, type FeedSource } from '../../hub/dashboard/live-feed.js';
import type { EventStreams, StreamClient } from '../../hub/dashboard/event-stream.js';
import { LoginLimit } from '../../hub/dashboard/login-limit.js';
import { Sessions } from '../../hub/dashboard/sessions.js';
import type { DeviceInfo } from '../../hub/fleet/device-inventory.js';
import { DeviceQueryError, parseDeviceQuery, queryDevices } from '../../hub/fleet/device-query.js';
import { firmwareObjectView } from '../../hub/fleet/device-values.js';
import type { JobRecord } from '../../hub/jobs/job-model.js';
import { cliEquivalent, formFilter, historyQuery, parseFilterText } from '../../hub/dashboard/ui/history-query.js';
import { EventParser } from '../../hub/dashboard/ui/event-parser.js';
import { listQuery } from '../../cli/job-args.js';
import type { DevicePage as PageDevicePage, Job as PageJob } from '../../hub/dashboard/ui/types.js';
import type { DevicePage } from '../../hub/fleet/device-query.js';

// The browser code keeps its own copy of the API's shapes (it may import nothing of the hub's server side): checked
// here at compile time, so `npm run typecheck` fails when what the hub sends and what the page reads drift apart.
export const pageReadsInventory = (p: DevicePage): PageDevicePage => p;
export const pageReadsJobs = (j: Omit<JobRecord, 'Log'>): PageJob => j;

function device(n: number, over: Partial<DeviceInfo> = {}): DeviceInfo {
  return {
    deviceId: `dev-${String(n).padStart(4, '0')}`,
    online: n % 3 === 0 ? false : n % 3 === 1 ? true : null,
    agentVersion: '1',
    registeredAt: 1,
    lastSeen: 1,
    firmwareVersion: `1.${n % 4}.0`,
    deviceType: n % 2 === 0 ? 'board-a' : 'board-b',
    model: 'm',
    faults: n % 10 === 0 ? [{ code: 16, reason: 'read-only' }] : [],
    firmware: { state: 0, updateResult: n % 5 === 0 ? 8 : 1, reason: '', code: '', progress: 0, pkgVersion: '' },
    problem: '',
    ...over,
  };
}

describe('device inventory query', () => {
  const all = Array.from({ length: 250 }, (_, i) => device(i));
  const byId = new Map(all.map((d) => [d.deviceId, d]));
  const ids = [...byId.keys()].sort();
  const run = (params: string) => queryDevices(parseDeviceQuery(new URLSearchParams(params)), ids, (id) => byId.get(id));

  it('pages through every match once, in id order, with the cursor', () => {
    const seen: string[] = [];
    let cursor = '';
    for (let i = 0; i < 10; i++) {
      const page = run(`type=board-a&size=30${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.total).toBe(125);
      seen.push(...page.devices.map((d) => d.deviceId));
      if (!page.nextPage) break;
      cursor = page.nextPage;
    }
    expect(seen).toEqual(all.filter((d) => d.deviceType === 'board-a').map((d) => d.deviceId));
  });

  it('combines filters; facets count the whole inventory', () => {
    const page = run('online=offline&result=8&fault=yes&size=1000');
    const want = all.filter((d) => d.online === false && d.firmware?.updateResult === 8 && d.faults.length > 0).map((d) => d.deviceId);
    expect(want.length).toBeGreaterThan(0);
    expect(page.devices.map((d) => d.deviceId)).toEqual(want);
    expect(page.facets).toMatchObject({ devices: 250, online: 83, offline: 84, unknown: 83, faulty: 25 });
    expect(page.facets.deviceTypes).toEqual([
      { deviceType: 'board-a', devices: 125 },
      { deviceType: 'board-b', devices: 125 },
    ]);
    expect(run('q=DEV-024&size=100').devices.map((d) => d.deviceId)).toEqual(['dev-0240', 'dev-0241', 'dev-0242', 'dev-0243', 'dev-0244', 'dev-0245', 'dev-0246', 'dev-0247', 'dev-0248', 'dev-0249']);
  });

  it('refuses unknown parameters and bad values, naming them', () => {
    expect(() => parseDeviceQuery(new URLSearchParams('sort=x'))).toThrow(DeviceQueryError);
    expect(() => parseDeviceQuery(new URLSearchParams('size=5000'))).toThrow(/size: must be an integer 1..1000/);
    expect(() => parseDeviceQuery(new URLSearchParams('online=yes'))).toThrow(/online/);
    expect(() => parseDeviceQuery(new URLSearchParams('state=1e3'))).toThrow(/state/);
  });

  it('reads Object 5 from a notification of /5 or /5/0, and cuts device strings', () => {
    const inst = { 3: 1, 5: 0, 26241: 42, 26242: 'x'.repeat(5000) };
    expect(firmwareObjectView({ 0: inst })).toMatchObject({ state: 1, progress: 42 });
    expect(firmwareObjectView(inst)?.reason).toHaveLength(512);
    expect(firmwareObjectView({ 3: 9 })).toBeUndefined();
  });
});

describe('login limit', () => {
  it('lets an address try 10 times a minute, then makes it wait out the minute; another address is not affected', () => {
    let now = 0;
    const limit = new LoginLimit(() => now);
    for (let i = 0; i < 10; i++) {
      expect(limit.waitMs('a')).toBe(0);
      limit.failed('a');
    }
    now = 10_000;
    expect(limit.waitMs('a')).toBe(50_000);
    expect(limit.waitMs('b')).toBe(0);
    now = 60_001;
    expect(limit.waitMs('a')).toBe(0);
  });
});

describe('sessions and CSRF', () => {
  const req = (headers: Record<string, string>): IncomingMessage => ({ headers }) as unknown as IncomingMessage;

  it('expires sessions, forgets the oldest past the bound, and never keeps the id', () => {
    let now = 0;
    const s = new Sessions(() => now, 2);
    const a = s.create();
    const b = s.create();
    expect(s.get(a.id)).toBe(a.session);
    s.create();
    expect(s.get(a.id)).toBeUndefined();
    expect(s.get(b.id)).toBe(b.session);
    now = 13 * 3600_000;
    expect(s.get(b.id)).toBeUndefined();
    expect(JSON.stringify([...(s as unknown as { byDigest: Map<string, unknown> }).byDigest.keys()])).not.toContain(b.id);
  });

  it('needs the CSRF header and the same origin for a request with the session cookie', () => {
    const s = new Sessions();
    const { id, session } = s.create();
    const base = { host: '127.0.0.1:8640', cookie: `x=1; fota_session=${id}` };
    expect(browserSession(req({ ...base, 'x-csrf-token': session.csrf, origin: 'http://127.0.0.1:8640', 'sec-fetch-site': 'same-origin' }), s)).toBe(session);
    expect(() => browserSession(req(base), s)).toThrow(/CSRF/);
    expect(() => browserSession(req({ ...base, 'x-csrf-token': 'nope' }), s)).toThrow(/CSRF/);
    expect(() => browserSession(req({ ...base, 'x-csrf-token': session.csrf, origin: 'http://127.0.0.1:9999' }), s)).toThrow(/another origin/);
    expect(() => browserSession(req({ ...base, 'x-csrf-token': session.csrf, 'sec-fetch-site': 'same-site' }), s)).toThrow(/another origin/);
    expect(() => browserSession(req({ ...base, cookie: 'fota_session=AAAA' }), s)).toThrow(/expired/);
    expect(browserSession(req({ host: 'h' }), s)).toBeUndefined();
    expect(sameOrigin(req({ host: 'h', origin: 'null' }))).toBe(false);
  });
});

describe('live feed', () => {
  function job(id: string, parent = ''): JobRecord {
    return { JobId: id, ParentJobId: parent, Status: 'Running' } as JobRecord;
  }
  function rig() {
    const reads: string[] = [];
    const source: FeedSource = {
      watch: () => () => undefined,
      get: (id) => (reads.push(id), job(id, id.includes('~') ? id.split('~')[0] : '')),
      rollup: () => ({ counts: { Queued: 0, Running: 2, Completed: 0, Failed: 0, Cancelled: 0 }, progressSum: 100 }),
      query: () => ({ jobs: [], total: 0 }),
    };
    const clients: StreamClient<{ job?: string }>[] = [
      { filter: {}, opened: 0 },
      { filter: { job: 'p1' }, opened: 0 },
    ];
    const sent: string[][] = [[], []];
    const streams = { size: 2, send: (build: (c: StreamClient<{ job?: string }>) => string | undefined) => clients.forEach((c, i) => sent[i]!.push(build(c) ?? '')) } as unknown as EventStreams<{ job?: string }>;
    return { feed: new LiveFeed(source, streams, { maxChildEvents: 3 }), reads, sent };
  }

  it('coalesces a burst into one frame per job; only the dashboard following a job gets its children', () => {
    const { feed, reads, sent } = rig();
    for (let i = 0; i < 100; i++) feed.jobChanged(job(`p1~d${i % 2}`, 'p1'));
    feed.jobChanged(job('p2'));
    feed.flush();
    // p1 once (its children changed), p2 once, and each changed child once: not 100 reads
    expect(reads.sort()).toEqual(['p1', 'p1~d0', 'p1~d1', 'p2']);
    expect(sent[0]![0]!.match(/^event: job$/gm)).toHaveLength(2);
    expect(sent[0]![0]).not.toContain('event: child');
    expect(sent[1]![0]!.match(/^event: child$/gm)).toHaveLength(2);
    feed.stop();
  });

  it('tells a dashboard to reload when more children changed than it is sent', () => {
    const { feed, sent } = rig();
    for (let i = 0; i < 5; i++) feed.jobChanged(job(`p1~d${i}`, 'p1'));
    feed.flush();
    expect(sent[1]![0]).toContain('event: children\ndata: {"parent":"p1","changed":5}');
    expect(sent[1]![0]).not.toContain('event: child\n');
    feed.stop();
  });
});

describe('history query (the page) = fota job list (the CLI)', () => {
  it('sends the body `fota job list` sends for the same filter, --all and --sort', () => {
    const f = formFilter({ type: 'firmware-update', status: 'Failed', result: '6', timeField: 'EndTime', from: '2026-01-01T00:00:00.000Z', to: '' });
    expect(f).toEqual({
      type: 'and',
      filters: [
        { type: 'comparison', property: 'Type', comparisonOperator: 'eq', value: 'firmware-update' },
        { type: 'comparison', property: 'Status', comparisonOperator: 'eq', value: 'Failed' },
        { type: 'comparison', property: 'UpdateResult', comparisonOperator: 'eq', value: 6 },
        { type: 'comparison', property: 'EndTime', comparisonOperator: 'gte', value: '2026-01-01T00:00:00.000Z' },
      ],
    });
    for (const all of [false, true]) {
      // the CLI adds the page from --limit; everything else is the same query
      const { page, ...query } = historyQuery(f, { all, sort: '-CreatedTime', size: 50 });
      expect(page).toEqual({ size: 50 });
      expect(query).toEqual(listQuery({ values: { all, filter: JSON.stringify(f), sort: '-CreatedTime' }, positionals: [] }));
    }
    expect(cliEquivalent(f, { all: true, sort: '-CreatedTime', limit: 50 })).toBe(`fota job list --all --filter '${JSON.stringify(f)}' --sort=-CreatedTime --limit 50`);
  });

  it('takes a filter or {"filter": …} as raw JSON, and says what is wrong with anything else', () => {
    const c = { type: 'comparison', property: 'Status', comparisonOperator: 'eq', value: 'Failed' };
    expect(parseFilterText(JSON.stringify(c))).toEqual(c);
    expect(parseFilterText(JSON.stringify({ filter: c }))).toEqual(c);
    expect(parseFilterText('  ')).toBeUndefined();
    expect(() => parseFilterText('{"filter": {}, "sort": []}')).toThrow(/sort/);
    expect(() => parseFilterText('[1]')).toThrow(/JSON object/);
    expect(() => parseFilterText('{')).toThrow(/not valid JSON/);
  });
});

describe('event-stream parser (the browser side)', () => {
  it('splits events across chunk boundaries and CRLF, skips comments', () => {
    const got: [string, string][] = [];
    const p = new EventParser((e, d) => got.push([e, d]));
    p.push(': keep-alive\r\n\r\nevent: job\r\ndata: {"a"');
    p.push(':1}\r\n\r\nevent: hello\ndata: {}\n');
    expect(got).toEqual([['job', '{"a":1}']]);
    p.push('\n');
    expect(got).toEqual([
      ['job', '{"a":1}'],
      ['hello', '{}'],
    ]);
  });
});
