// `fota job show` of one large fleet job through the real HTTP API (JobService + JobStore in this process, JobClient
// on a keep-alive connection): a parent with N children (default 6,400) in mixed statuses, seeded with the store.
// Run: node bench/job-show-bench.mjs [CHECKOUT] (default this one; another checkout's sources measure "before").

import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(process.argv[2] ?? new URL('..', import.meta.url).pathname);
const N = Number(process.env.N ?? 6400);
const RUNS = Number(process.env.RUNS ?? 20);
const dir = await mkdtemp(join(tmpdir(), 'fota-job-show-bench-'));

try {
  const sqlite = pathToFileURL(createRequire(join(ROOT, 'package.json')).resolve('better-sqlite3')).href;
  const poll = existsSync(join(ROOT, 'cli/job-poll.ts'));
  const entry = [
    "export { JobStore } from './hub/jobs/job-store.ts';",
    "export { JobService } from './hub/jobs/job-service.ts';",
    "export { startHttpApi } from './hub/api/http-api.ts';",
    "export { JobClient } from './hub/job-client.ts';",
    poll ? "export { jobPoller } from './cli/job-poll.ts';" : '',
  ].join('\n');
  await build({
    stdin: { contents: entry, resolveDir: ROOT, loader: 'ts' },
    outfile: join(dir, 'lib.mjs'), bundle: true, platform: 'node', format: 'esm', target: 'node18', logLevel: 'warning',
    external: ['onoff', 'epoll'],
    // CommonJS dependencies (mqtt's, through hub-link) call require(); give the ESM bundle one
    banner: { js: "import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);" },
    plugins: [{ name: 'abs-sqlite', setup: (b) => b.onResolve({ filter: /^better-sqlite3$/ }, () => ({ path: sqlite, external: true })) }],
  });
  const lib = await import(pathToFileURL(join(dir, 'lib.mjs')).href);

  // a running firmware job as the hub writes it: some done, some failed, many downloading, the rest queued
  const store = lib.JobStore.open(join(dir, 'jobs.db'));
  const ids = Array.from({ length: N }, (_, i) => `fleet-${String(i).padStart(5, '0')}`);
  store.createJob({ JobId: 'big', Type: 'firmware-update', Parameters: { timeoutSeconds: 1500, packageUri: 'http://127.0.0.1:1/p.fota' } }, ids.map((DeviceId) => ({ DeviceId })));
  store.batch(() => {
    store.update('big', { Status: 'Running' });
    ids.forEach((d, i) => {
      const id = `big~${d}`;
      const r = i % 32; // 14/32 completed, 2/32 failed, 8/32 running, 7/32 queued, 1/32 cancelled
      if (r === 31) return void store.update(id, { Status: 'Cancelled', StatusMessage: 'cancelled before it started' });
      if (r >= 24) return;
      store.update(id, { Status: 'Running', Progress: (i * 7) % 100, StatusMessage: `downloading ${(i * 7) % 100}%`, FirmwareVersionBefore: '2.3.0' });
      store.appendLog(id, { step: 'uri written', detail: 'http://127.0.0.1:1/p.fota' });
      if (r < 16) store.appendLog(id, { step: 'download started' });
      if (r < 14) store.update(id, { Status: 'Completed', UpdateResult: 1, FirmwareVersionAfter: '2.4.0', StatusMessage: 'updated to 2.4.0' });
      else if (r < 16) store.update(id, { Status: 'Failed', UpdateResult: 5, ErrorCode: 'integrity-mismatch', StatusMessage: 'sha-256 differs from the manifest' });
    });
  });
  store.optimize();

  const service = new lib.JobService({ store, link: {} }); // get() and query() read the store only: no broker needed
  const api = await lib.startHttpApi(service, { port: 0 });
  const client = new lib.JobClient({ url: api.url });
  const raw = async (path) => {
    const res = await fetch(api.url + path);
    return (await res.arrayBuffer()).byteLength;
  };
  const cases = [
    ['GET /v1/jobs/big (default)', () => client.getJob('big'), '/v1/jobs/big'],
    ...(poll
      ? [
          ['GET /v1/jobs/big?children=0 (counts only; the dashboard)', () => client.getJob('big', { children: 0 }), '/v1/jobs/big?children=0'],
          ['GET /v1/jobs/big?children=1000 (the most per answer)', () => client.getJob('big', { children: 1000 }), '/v1/jobs/big?children=1000'],
          ['one `job show --wait` poll, 104-row TTY (counts + 100 children)', lib.jobPoller(client, 'big', 100)],
          ['one `job show --wait` poll, a pipe (counts + failures since the last poll)', lib.jobPoller(client, 'big', 100, 'log')],
          ['one `job show --wait` poll, 24-row TTY (counts + 20 children)', lib.jobPoller(client, 'big', 20)],
          [`every child, paged (\`job show\`, \`--json\`: ${N.toLocaleString('en')})`, () => client.getJobWithAllChildren('big')],
        ]
      : []),
  ];
  const sorted = (xs) => [...xs].sort((a, b) => a - b);
  console.log(`checkout ${ROOT}, N=${N}, ${RUNS} runs each, load1 at start ${loadavg()[0].toFixed(2)}\n`);
  console.log('| request | answer bytes | median ms | p95 ms |\n|---|---|---|---|');
  for (const [name, run, path] of cases) {
    for (let i = 0; i < 3; i++) await run();
    const xs = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      await run();
      xs.push(performance.now() - t);
    }
    const s = sorted(xs);
    const bytes = path ? (await raw(path)).toLocaleString('en') : '–';
    console.log(`| ${name} | ${bytes} | ${s[Math.floor(s.length / 2)].toFixed(1)} | ${s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)].toFixed(1)} |`);
  }
  console.log(`\nload1 at end ${loadavg()[0].toFixed(2)}`);
  client.close();
  await api.close();
  store.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
