// Query latency against the RUNNING hub through its HTTP API (JobClient): typical history queries over the seeded
// 100,000 records plus the fleet job just run. Sequential requests on one keep-alive connection; each time covers
// the HTTP round trip, the hub's routing, SQLite and JSON on both ends.

import { stats } from './report.mjs';

const c = (property, comparisonOperator, value) => ({ type: 'comparison', property, comparisonOperator, value });

/** The queries, as [name, (client) => Promise<{ rows, total }>]. */
export function queries(seed, fleetJobId) {
  const page = (p) => ({ rows: p.jobs.length, total: p.total });
  return [
    ['by status: Status eq Failed (page 50)', (cl) => cl.queryJobHistory({ filter: c('Status', 'eq', 'Failed'), page: { size: 50 } }).then(page)],
    [
      'by type + time: firmware-update, StartTime in one week, -StartTime (page 50)',
      (cl) => cl.queryJobHistory({ filter: { type: 'and', filters: [c('Type', 'eq', 'firmware-update'), c('StartTime', 'gte', seed.week.from), c('StartTime', 'lt', seed.week.to)] }, sort: '-StartTime', page: { size: 50 } }).then(page),
    ],
    ['children of a parent: ParentJobId eq, by DeviceId (page 100)', (cl) => cl.queryJobHistory({ filter: c('ParentJobId', 'eq', seed.sampleParent), sort: 'DeviceId', page: { size: 100 } }).then(page)],
    ['GET /v1/jobs/:id of a parent (the job + its 99 children)', (cl) => cl.getJob(seed.sampleParent).then((d) => ({ rows: 1 + d.children.length, total: 1 + d.children.length }))],
    ['no filter, newest first (page 50, counts every record)', (cl) => cl.queryJobHistory({ page: { size: 50 } }).then(page)],
    ['children of the fleet job just run (page 100)', (cl) => cl.queryJobHistory({ filter: c('ParentJobId', 'eq', fleetJobId), sort: 'DeviceId', page: { size: 100 } }).then(page)],
  ];
}

/**
 * Runs each query `warmup` times untimed, then `runs` times timed. Returns [{ name, rows, total, median, p95, p99,
 * max }]; every timed latency (ms) is also pushed to `all` when given.
 */
export async function measureQueries(client, seed, fleetJobId, { runs = 50, warmup = 3, all } = {}) {
  const out = [];
  for (const [name, run] of queries(seed, fleetJobId)) {
    let last;
    for (let i = 0; i < warmup; i++) last = await run(client);
    const xs = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      last = await run(client);
      xs.push(performance.now() - t);
    }
    all?.push(...xs);
    out.push({ name, rows: last.rows, total: last.total, ...stats(xs) });
  }
  return out;
}
