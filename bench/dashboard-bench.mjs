// Dashboard benchmark: the hub's web dashboard in a real Chromium (playwright-core, /usr/bin/chromium) against a real
// `fota hub` process (dist/, embedded broker) that knows DEVICES devices (10,000; one fake-fleet MQTT client answers
// for all: bench/dashboard/fake-fleet.ts) and holds 100,000 finished job records (bench/fleet/seed.ts). Measures the
// first paint and the first data on the page of each view, the server-side paging/filtering calls behind them, and
// the latency from a device's notification to the page (Devices row; a job's device row through the job driver).
// Run: `npm run bench:dashboard` (builds dist/ first). Knobs (env): DEVICES (10000), HISTORY_PARENTS (1000) x
// HISTORY_CHILDREN (99), RUNS (10), KEEP=1. docs/benchmarks.md ("Dashboard benchmark") has the figures.

import { build } from 'esbuild';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FOTA = path.join(ROOT, 'bin', 'fota.js');
const CHROMIUM = '/usr/bin/chromium';
const num = (name, dflt) => {
  const v = process.env[name] ? Number(process.env[name]) : dflt;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name}="${process.env[name]}" must be a positive integer`);
  return v;
};
const DEVICES = num('DEVICES', 10_000);
const PARENTS = num('HISTORY_PARENTS', 1000);
const CHILDREN = num('HISTORY_CHILDREN', 99);
const RUNS = num('RUNS', 10);
const TOKEN = 'dashboard-bench-token-0123456789abcdef';
const log = (msg) => process.stderr.write(`[dashboard-bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Bundles the seeder and the fake fleet (TypeScript) into `dir`; better-sqlite3 from this checkout. */
async function loadLib(dir) {
  const require = createRequire(path.join(ROOT, 'package.json'));
  const sqlite = pathToFileURL(require.resolve('better-sqlite3')).href;
  const outfile = path.join(dir, 'dashboard-bench-lib.mjs');
  await build({
    stdin: { contents: "export { seedHistory } from './bench/fleet/seed.ts'; export { startFakeFleet } from './bench/dashboard/fake-fleet.ts';", resolveDir: ROOT, loader: 'ts' },
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node18',
    logLevel: 'warning',
    banner: { js: "import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);" },
    plugins: [{ name: 'abs-sqlite', setup: (b) => b.onResolve({ filter: /^better-sqlite3$/ }, () => ({ path: sqlite, external: true })) }],
  });
  return import(pathToFileURL(outfile).href);
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { median: at(0.5), p95: at(0.95), max: s[s.length - 1], n: s.length };
};
const ms = (v) => (v === undefined ? '–' : v < 10 ? v.toFixed(1) : String(Math.round(v)));
const row = (name, xs) => {
  const s = stats(xs);
  return `| ${name} | ${ms(s.median)} | ${ms(s.p95)} | ${ms(s.max)} | ${s.n} |`;
};

async function api(url, method, p, body) {
  const res = await fetch(`${url}${p}`, { method, headers: { Authorization: `Bearer ${TOKEN}`, ...(body ? { 'Content-Type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

async function timed(fn) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

// first data of each view: when its list (or its "nothing here" line) is on the page, seen by a MutationObserver
const MARKS = `
window.__marks = {};
const WANT = { devices: 'tr[data-device]', jobs: 'article.job, [data-list=running] p.muted', history: 'section.history tbody tr' };
new MutationObserver(() => {
  for (const [k, sel] of Object.entries(WANT)) if (!(k in window.__marks) && document.querySelector(sel)) window.__marks[k] = performance.now();
}).observe(document, { childList: true, subtree: true });
`;

/** Installs a watcher that resolves window.__seen with Date.now() once `selector`'s text matches `re`. */
async function watch(page, selector, re) {
  await page.evaluate(
    ([sel, src]) => {
      const re = new RegExp(src);
      window.__seen = new Promise((resolve) => {
        const check = () => {
          const el = document.querySelector(sel);
          if (el && re.test(el.textContent ?? '')) {
            obs.disconnect();
            resolve(Date.now());
          }
        };
        const obs = new MutationObserver(check);
        obs.observe(document.body, { childList: true, subtree: true, characterData: true });
      });
    },
    [selector, re.source],
  );
}

async function main() {
  const work = mkdtempSync(path.join(os.tmpdir(), 'fota-dashboard-bench-'));
  const stops = [];
  const load = { start: os.loadavg() };
  try {
    const lib = await loadLib(work);
    const db = path.join(work, 'hub.db');
    log(`seeding ${(PARENTS * (CHILDREN + 1)).toLocaleString('en')} job records…`);
    const seed = lib.seedHistory(db, { parents: PARENTS, children: CHILDREN, endMs: Date.now() - 86_400_000 });
    log(`seeded ${seed.records.toLocaleString('en')} records in ${(seed.ms / 1000).toFixed(1)} s`);

    const [apiPort, mqttPort] = [await freePort(), await freePort()];
    const url = `http://127.0.0.1:${apiPort}`;
    const hub = spawn(process.execPath, [FOTA, 'hub', '--db', db, '--listen', `127.0.0.1:${apiPort}`, '--mqtt-listen', `127.0.0.1:${mqttPort}`], { env: { ...process.env, FOTA_HUB_TOKEN: TOKEN }, stdio: ['ignore', 'ignore', 'pipe'] });
    let hubErr = '';
    hub.stderr.on('data', (d) => (hubErr = (hubErr + d).slice(-20_000)));
    stops.push(async () => {
      hub.kill('SIGTERM');
      await new Promise((r) => (hub.exitCode !== null ? r() : hub.once('exit', r)));
    });
    for (let i = 0; ; i++) {
      if (hub.exitCode !== null) throw new Error(`the hub exited:\n${hubErr}`);
      if (await fetch(`${url}/v1/health`).then((r) => r.ok, () => false)) break;
      if (i > 200) throw new Error('the hub did not answer in 20 s');
      await sleep(100);
    }

    log(`${DEVICES.toLocaleString('en')} devices register…`);
    const t0 = performance.now();
    const fleet = await lib.startFakeFleet({ brokerUrl: `mqtt://127.0.0.1:${mqttPort}`, prefix: 'lwm2m', count: DEVICES });
    stops.push(() => fleet.close());
    let observed = 0;
    for (;;) {
      // a device is listed with its Object 5 once the inventory has observed it
      const p = await api(url, 'GET', '/v1/inventory?size=1&state=0');
      observed = p.total;
      if (observed >= DEVICES) break;
      if (performance.now() - t0 > 600_000) throw new Error(`only ${observed} of ${DEVICES} devices observed after 10 min`);
      await sleep(500);
    }
    const inventoryS = (performance.now() - t0) / 1000;
    log(`the hub's inventory has all ${DEVICES} devices with Objects 3 and 5 after ${inventoryS.toFixed(1)} s`);

    // the server side of the pages: what each view asks the hub, timed from here
    const server = {};
    const filters = {
      'devices, first page (100 of all)': () => api(url, 'GET', '/v1/inventory?size=100'),
      'devices, search "dev-09" (first 100 matches)': () => api(url, 'GET', '/v1/inventory?size=100&q=dev-09'),
      'devices, filter type + Update Result 8, page 2': async () => {
        const p1 = await api(url, 'GET', '/v1/inventory?size=100&type=gateway-b&result=8');
        return api(url, 'GET', `/v1/inventory?size=100&type=gateway-b&result=8&cursor=${encodeURIComponent(p1.nextPage ?? '')}`);
      },
      'history, first page (50 fleet jobs, newest first)': () => api(url, 'POST', '/v1/jobs/query', { filter: { type: 'comparison', property: 'ParentJobId', comparisonOperator: 'eq', value: '' }, sort: ['-CreatedTime'], page: { size: 50 } }),
      'history, all jobs, Status Failed, one week': () => api(url, 'POST', '/v1/jobs/query', { filter: { type: 'and', filters: [{ type: 'comparison', property: 'Status', comparisonOperator: 'eq', value: 'Failed' }, { type: 'comparison', property: 'CreatedTime', comparisonOperator: 'gte', value: seed.week.from }, { type: 'comparison', property: 'CreatedTime', comparisonOperator: 'lt', value: seed.week.to }] }, sort: ['-CreatedTime'], page: { size: 50 } }),
      "jobs, recently ended (the Jobs view's query)": () => api(url, 'POST', '/v1/jobs/query', { filter: { type: 'and', filters: [{ type: 'comparison', property: 'ParentJobId', comparisonOperator: 'eq', value: '' }, { type: 'not', filter: { type: 'or', filters: ['Queued', 'Running'].map((value) => ({ type: 'comparison', property: 'Status', comparisonOperator: 'eq', value })) } }] }, sort: ['-EndTime'], page: { size: 10 } }),
    };
    for (const [name, fn] of Object.entries(filters)) {
      await fn();
      server[name] = [];
      for (let i = 0; i < RUNS; i++) server[name].push(await timed(fn));
    }

    log('Chromium: first paint of each view…');
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
    stops.push(() => browser.close());
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.addInitScript({ content: MARKS });
    const login = await context.newPage();
    await login.goto(`${url}/ui/`);
    await login.fill('input[name=token]', TOKEN);
    await Promise.all([login.waitForURL(`${url}/ui/`), login.click('button[type=submit]')]);
    await login.close();
    const paint = {};
    for (const view of ['devices', 'jobs', 'history']) {
      paint[view] = { fcp: [], data: [] };
      for (let i = 0; i <= RUNS; i++) {
        const page = await context.newPage();
        await page.goto(`${url}/ui/#${view}`);
        await page.waitForFunction((v) => v in window.__marks, view, { timeout: 60_000 });
        const m = await page.evaluate((v) => ({ fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime, data: window.__marks[v] }), view);
        await page.close();
        if (i === 0) continue; // the first load fills the browser's cache: not counted
        paint[view].fcp.push(m.fcp);
        paint[view].data.push(m.data);
      }
    }

    log('notification → page latency…');
    const page = await context.newPage();
    const latency = { devices: [], job: [] };
    await page.goto(`${url}/ui/#devices`);
    await page.waitForSelector('#live.ok');
    await page.waitForSelector('tr[data-device="dev-00001"]');
    for (let i = 0; i < RUNS; i++) {
      const pct = 11 + i * 7;
      await watch(page, 'tr[data-device="dev-00001"]', new RegExp(`Downloading ${pct}%`));
      const sent = Date.now();
      await fleet.notifyFirmware('dev-00001', { 3: 1, 26241: pct });
      latency.devices.push((await page.evaluate('window.__seen')) - sent);
      // the Devices page reloads at most once a second: wait that out, so each figure is one change alone
      await sleep(1200);
    }
    await fleet.notifyFirmware('dev-00001', { 3: 0, 26241: 0 });

    await api(url, 'POST', '/v1/jobs', { jobId: 'bench-live', type: 'firmware-update', deviceIds: ['dev-00002'], parameters: { packageUri: 'http://127.0.0.1:9/never-fetched.fota', timeoutSeconds: 3600 } });
    await page.goto(`${url}/ui/#jobs/bench-live`);
    await page.waitForSelector('tr[data-child="bench-live~dev-00002"] >> text=downloading 0%', { timeout: 60_000 });
    const cell = 'tr[data-child="bench-live~dev-00002"] td:nth-child(4)';
    for (let i = 0; i < RUNS; i++) {
      const pct = 5 + i * 9;
      await watch(page, cell, new RegExp(`^downloading ${pct}%`));
      const sent = Date.now();
      await fleet.notifyFirmware('dev-00002', { 26241: pct });
      latency.job.push((await page.evaluate('window.__seen')) - sent);
      await sleep(500);
    }
    await api(url, 'POST', '/v1/jobs/bench-live/cancel');
    load.end = os.loadavg();

    const chromiumVersion = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).trim();
    const commit = (() => {
      try {
        return execFileSync('git', ['-C', ROOT, 'log', '-1', '--format=%h'], { encoding: 'utf8' }).trim();
      } catch {
        return '?';
      }
    })();
    const js = readFileSync(path.join(ROOT, 'dist/dashboard/app.js')).length;
    const css = readFileSync(path.join(ROOT, 'dist/dashboard/app.css')).length;
    const lines = [
      `Dashboard benchmark, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${commit}; ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}, ${chromiumVersion}`,
      `load average (1/5/15 min) at the start ${load.start.map((x) => x.toFixed(2)).join(' ')}, at the end ${load.end.map((x) => x.toFixed(2)).join(' ')}`,
      `${DEVICES.toLocaleString('en')} devices (all observed by the hub's inventory after ${inventoryS.toFixed(1)} s), ${seed.records.toLocaleString('en')} job records; bundle ${(js / 1024).toFixed(1)} KiB JS + ${(css / 1024).toFixed(1)} KiB CSS; ${RUNS} runs each`,
      '',
      '| what (ms) | median | p95 | max | runs |',
      '|---|---:|---:|---:|---:|',
      ...['devices', 'jobs', 'history'].flatMap((v) => [row(`${v}: first contentful paint`, paint[v].fcp), row(`${v}: first data on the page`, paint[v].data)]),
      row('notification → Devices row updated', latency.devices),
      row("notification → job's device row updated (via the job driver)", latency.job),
      ...Object.entries(server).map(([name, xs]) => row(`API: ${name}`, xs)),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    if (process.env.KEEP === '1') log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`dashboard-bench: ${e.stack ?? e}\n`);
  process.exitCode = 1;
});
