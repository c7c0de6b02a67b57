// Job store benchmark: fills a temp SQLite file with 1,000 parents x 100 children (101,000 jobs), then times
// typical queries (median and p95 over 50 runs) and prints a Markdown table. Run: node bench/query-bench.mjs
// Builds hub/jobs/*.ts with esbuild into a temp dir first (no tsx here); better-sqlite3 loads from node_modules.

import { build } from 'esbuild';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const PARENTS = Number(process.env.PARENTS ?? 1000);
const CHILDREN = Number(process.env.CHILDREN ?? 100);
const RUNS = Number(process.env.RUNS ?? 50);
const DAY = 86_400_000;
const T_END = Date.UTC(2024, 5, 1);
const T_START = T_END - 90 * DAY;

const require = createRequire(import.meta.url);
const sqlitePath = require.resolve('better-sqlite3');
const root = new URL('..', import.meta.url);
const dir = await mkdtemp(join(tmpdir(), 'fota-query-bench-'));

try {
  await build({
    // named entries: the outputs land flat in `dir` although the sources sit in different folders
    entryPoints: Object.fromEntries(['hub/jobs/job-store', 'hub/jobs/job-query', 'hub/jobs/job-query-sql', 'bench/lib/job-mix'].map((f) => [f.split('/').pop(), new URL(`${f}.ts`, root).pathname])),
    outdir: dir,
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node18',
    logLevel: 'warning',
    // the bundle lives in a temp dir: point the native addon at this checkout's node_modules by absolute URL
    plugins: [{ name: 'abs-sqlite', setup: (b) => b.onResolve({ filter: /^better-sqlite3$/ }, () => ({ path: pathToFileURL(sqlitePath).href, external: true })) }],
  });
  const { JobStore } = await import(pathToFileURL(join(dir, 'job-store.js')).href);
  const { parseJobQuery } = await import(pathToFileURL(join(dir, 'job-query.js')).href);
  const { toSql } = await import(pathToFileURL(join(dir, 'job-query-sql.js')).href);
  const { JOB_PARAMS, JOB_TYPE_MIX, seededRandom } = await import(pathToFileURL(join(dir, 'job-mix.js')).href);
  const Database = require('better-sqlite3');

  const { rnd, weighted } = seededRandom();

  let clock = T_START;
  const file = join(dir, 'jobs.db');
  // one transaction per call, as measured since the start (a hub coalesces one turn's writes; this loop is one turn)
  const store = JobStore.open(file, { now: () => clock, coalesce: false });

  // Insert: createJob is one transaction per fleet job (parent + 100 children), as the API would call it.
  const parents = [];
  const t0 = performance.now();
  for (let p = 0; p < PARENTS; p++) {
    const created = T_START + Math.floor((p / PARENTS) * (T_END - T_START)) + Math.floor(rnd() * 3_600_000);
    const type = weighted(JOB_TYPE_MIX);
    clock = created;
    const id = `job-${String(p).padStart(5, '0')}`;
    const base = Math.floor(rnd() * 5000);
    store.createJob({ JobId: id, Type: type, Parameters: JOB_PARAMS[type] }, Array.from({ length: CHILDREN }, (_, i) => ({ DeviceId: `dev-${String((base + i) % 5000).padStart(4, '0')}` })));
    parents.push({ id, created, type });
  }
  const insertMs = performance.now() - t0;
  const rows = PARENTS * (CHILDREN + 1);

  // Status changes: recent jobs are still running, older ones ended; one batch (transaction) per parent.
  const t1 = performance.now();
  let updates = 0;
  for (const [n, p] of parents.entries()) {
    const recent = n >= PARENTS * 0.98;
    store.batch(() => {
      clock = p.created + 60_000;
      store.update(p.id, { Status: 'Running' });
      updates++;
      for (const child of store.children(p.id)) {
        const s = recent ? weighted([['Queued', 30], ['Running', 40], ['Completed', 25], ['Failed', 5]]) : weighted([['Completed', 85], ['Failed', 10], ['Cancelled', 4], ['Queued', 1]]);
        if (s === 'Queued') continue;
        if (s !== 'Cancelled' || rnd() < 0.5) {
          clock = p.created + 60_000 + Math.floor(rnd() * 1_800_000);
          store.update(child.JobId, { Status: 'Running', Progress: Math.floor(rnd() * 100), FirmwareVersionBefore: '2.3.0' });
          updates++;
        }
        if (s === 'Running') continue;
        clock += Math.floor(rnd() * 900_000);
        const failed = s === 'Failed';
        store.update(child.JobId, { Status: s, TimedOut: failed && rnd() < 0.4, UpdateResult: p.type !== 'firmware-update' ? null : failed ? weighted([[5, 3], [4, 3], [8, 4]]) : 1, FirmwareVersionAfter: p.type === 'firmware-update' && !failed ? '2.4.1' : null });
        updates++;
      }
      if (!recent) {
        clock = p.created + 3_600_000;
        store.update(p.id, { Status: 'Completed' });
        updates++;
      }
    });
  }
  const updateMs = performance.now() - t1;
  store.optimize(); // a running hub refreshes planner statistics periodically; a fresh file has none

  const mid = parents[Math.floor(PARENTS / 2)];
  const from = new Date(T_START + 30 * DAY).toISOString();
  const to = new Date(T_START + 37 * DAY).toISOString();
  const c = (name, op, value, type = 'default') => ({ type: 'comparison', property: { name, type }, comparisonOperator: op, value });
  const QUERIES = [
    ['Status eq Running (page 50)', { filter: c('Status', 'eq', 'Running'), page: { size: 50 } }],
    ['firmware-update, StartTime in one week, -StartTime (page 50)', { filter: { type: 'and', filters: [c('Type', 'eq', 'firmware-update'), c('StartTime', 'gte', from), c('StartTime', 'lt', to)] }, sort: '-StartTime', page: { size: 50 } }],
    ['children of a parent via query (ParentJobId eq, page 100)', { filter: c('ParentJobId', 'eq', mid.id), sort: 'DeviceId', page: { size: 100 } }],
    ['or/not mix, -CreatedTime (page 50)', { filter: { type: 'or', filters: [{ type: 'and', filters: [c('Status', 'eq', 'Failed'), { type: 'not', filter: c('TimedOut', 'eq', true) }] }, { type: 'and', filters: [c('Type', 'eq', 'reboot'), c('Progress', 'lt', 50)] }] }, sort: '-CreatedTime', page: { size: 50 } }],
    ['UpdateResult eq 5 (result property, page 50)', { filter: c('UpdateResult', 'eq', 5, 'result'), page: { size: 50 } }],
    ['no filter, -CreatedTime (page 50, total of all)', { page: { size: 50 } }],
  ];

  const stats = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return { median: s[Math.floor(s.length / 2)], p95: s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)] };
  };
  const time = (fn) => {
    for (let i = 0; i < 3; i++) fn(); // warm the page cache and the statement cache
    const xs = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      fn();
      xs.push(performance.now() - t);
    }
    return stats(xs);
  };

  const results = [];
  for (const [name, q] of QUERIES) {
    let last;
    const s = time(() => (last = store.query(parseJobQuery(q))));
    results.push([name, last.jobs.length, last.total, s]);
  }
  {
    let last;
    const s = time(() => (last = store.children(mid.id)));
    results.push(['store.children(parent) (all 100)', last.length, last.length, s]);
  }
  {
    const q = QUERIES[1][1];
    let cursor;
    for (let i = 0; i < 20; i++) cursor = store.query(parseJobQuery({ ...q, page: { size: 50, cursor } })).nextPage;
    let last;
    const s = time(() => (last = store.query(parseJobQuery({ ...q, page: { size: 50, cursor } }))));
    results.push(['page 21 of the firmware-update/week query (cursor)', last.jobs.length, last.total, s]);
  }
  {
    const s = time(() => store.get(`${mid.id}~dev-0001`) ?? store.get(mid.id));
    results.push(['store.get(jobId)', 1, 1, s]);
  }
  {
    const s = time(() => store.listUnfinished());
    results.push(['store.listUnfinished()', store.listUnfinished().length, '', s]);
  }

  const fmt = (ms) => (ms < 1 ? ms.toFixed(3) : ms.toFixed(2));
  console.log(`\n### Job store: ${rows.toLocaleString('en')} jobs (${PARENTS} parents x ${CHILDREN} children), ${RUNS} runs per query\n`);
  console.log(`Node ${process.version}, SQLite ${new Database(':memory:').prepare('select sqlite_version() v').get().v}, WAL, synchronous=NORMAL\n`);
  console.log('| Query | Rows returned | Total matching | Median (ms) | p95 (ms) |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, n, total, s] of results) console.log(`| ${name} | ${n} | ${total} | ${fmt(s.median)} | ${fmt(s.p95)} |`);
  console.log(`\nInsert: ${rows.toLocaleString('en')} jobs in ${(insertMs / 1000).toFixed(2)} s = ${Math.round(rows / (insertMs / 1000)).toLocaleString('en')} jobs/s (createJob, one transaction per parent)`);
  console.log(`Update: ${updates.toLocaleString('en')} status updates in ${(updateMs / 1000).toFixed(2)} s = ${Math.round(updates / (updateMs / 1000)).toLocaleString('en')} updates/s (one batch per parent)`);

  if (process.argv.includes('--plans')) {
    const raw = new Database(file, { readonly: true });
    console.log('\nQuery plans:');
    for (const [name, q] of QUERIES) {
      const sql = toSql(parseJobQuery(q));
      const plan = raw.prepare(`EXPLAIN QUERY PLAN SELECT * FROM jobs WHERE ${sql.where} ORDER BY ${sql.orderBy} LIMIT ?`).all(...sql.params, sql.limit);
      console.log(`- ${name}: ${plan.map((r) => r.detail).join('; ')}`);
    }
    raw.close();
  }
  store.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
