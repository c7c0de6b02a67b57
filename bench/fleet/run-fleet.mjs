// One run of the fleet benchmark for one N: device folders, Mosquitto, the hub on a copy of the seeded history,
// the fleet hosts (fleet-group.mjs); power on, wait until the hub sees every device, one firmware-update job, follow
// it to its end while a sampler times API queries, collect every child's outcome, the processes' CPU and memory,
// the devices' timelines and the query latencies during and after the job.

import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { openFds, raiseFdLimit } from './fd-limit.mjs';
import { startFleetGroup } from './fleet-group.mjs';
import { sleep, startHubProcess, startMosquitto, stopProcess } from './processes.mjs';
import { cpuSeconds, load1, memKiB, resetPeak, RssSampler } from './proc-stats.mjs';
import { measureQueries } from './queries.mjs';
import { startSamplerProcess, summarize } from './query-sampler.mjs';
import { fix, stats } from './report.mjs';

/** Polls `probe` every `everyMs` until it returns a truthy value; throws `what` after `ms`. */
async function until(probe, ms, everyMs, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(typeof what === 'function' ? what() : what);
    await sleep(everyMs);
  }
}

/**
 * A read the hub did not answer because its socket broke (ECONNRESET: a keep-alive connection the hub closed while
 * its event loop was blocked) is retried; `counter.n` counts the retries for the report.
 */
async function retried(fn, counter, attempts = 5) {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= attempts || e?.code !== 'hub-unreachable') throw e;
      counter.n++;
      await sleep(500);
    }
  }
}

/**
 * Where the time goes, from the devices' transition times and the hub's EndTime (median / p95 over devices, s):
 * dispatch = schedule → Package URI written on the device; download = → verified in the slot; execute = → the hub
 * executed Update; install = → rebooted, healthy and committed; report = → the hub marked the child Completed.
 */
function phases(reports, kids, scheduledAt) {
  const end = new Map(kids.filter((k) => k.EndTime).map((k) => [k.DeviceId, Date.parse(k.EndTime)]));
  const spans = { dispatch: [], download: [], execute: [], install: [], report: [] };
  for (const d of reports) {
    const e = d.events;
    const put = (k, a, b) => a !== undefined && b !== undefined && spans[k].push((b - a) / 1000);
    put('dispatch', scheduledAt, e['uri-written']);
    put('download', e['uri-written'], e['download-succeeded']);
    put('execute', e['download-succeeded'], e['update-executed']);
    put('install', e['update-executed'], e['committed']);
    put('report', e['committed'], end.get(d.id));
  }
  const out = {};
  for (const [k, xs] of Object.entries(spans)) {
    const s = stats(xs);
    out[`${k}_median_s`] = s.median;
    out[`${k}_p95_s`] = s.p95;
  }
  return out;
}

/** Lines of a text file matching `re` (0 when the file is missing). */
function countLines(file, re) {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((l) => re.test(l)).length;
  } catch {
    return 0;
  }
}

const isTerminal = (s) => s === 'Completed' || s === 'Failed' || s === 'Cancelled';

/**
 * One fleet run: fresh broker, hub (on a copy of the seeded history), fleet host; one job to N devices. Never
 * throws for a failed run: the result says `ok: false` and why. `ctx`: { lib, bundles, work, pkg, pkgServer, seed,
 * historyDb, cfg, log, fotaBin, prefix, newVersion }.
 */
export async function runFleet(n, ctx) {
  const { lib, bundles, work, pkg, pkgServer, seed, cfg: CFG, log, fotaBin, prefix, newVersion } = ctx;
  // one folder per run: a repeated N must not find the last run's database, logs or devices
  const dir = path.join(work, `run${ctx.runIndex}-n${n}`);
  mkdirSync(dir, { recursive: true });
  const r = { n, run: ctx.runIndex, ok: false, reason: '', load1_start: load1() };
  const ids = Array.from({ length: n }, (_, i) => `fleet-${String(i + 1).padStart(5, '0')}`);
  const devicesDir = path.join(dir, 'devices');
  let t = performance.now();
  await lib.createFleetDevices(devicesDir, ids, { imageSize: CFG.imageSize, slotCapacity: CFG.imageSize + 64 * 1024 });
  r.device_setup_s = (performance.now() - t) / 1000;
  log(`N=${n}: ${n} device folders created in ${fix(r.device_setup_s)} s`);

  const broker = await startMosquitto(dir, { maxQueued: CFG.maxQueued, maxInflight: CFG.maxInflight });
  r.broker_config = broker.config.join('; ') || 'mosquitto defaults';
  // Mosquitto holds one socket per device; it inherits the bench's limit, raised here in case it was not
  r.broker_fd_limit = raiseFdLimit(broker.pid);
  const db = path.join(dir, 'hub.db');
  copyFileSync(ctx.historyDb, db);
  const hub = await startHubProcess(dir, { fotaBin, brokerUrl: broker.url, db, nodeOptions: CFG.hubNodeOptions });
  const client = new lib.JobClient({ url: hub.url, requestTimeoutMs: 120_000 });
  const resets = { n: 0 };
  let host;
  let sampler;
  let querySampler;
  let querySamples = [];
  let job;
  const stopSampler = async () => {
    if (querySampler) querySamples = await querySampler.stop();
    querySampler = undefined;
  };
  const fds = { hosts: 0, broker: 0, bench: 0 };
  const countFds = () => {
    fds.hosts = Math.max(fds.hosts, ...(host?.pids ?? []).map((p) => openFds(p) ?? 0));
    fds.broker = Math.max(fds.broker, openFds(broker.pid) ?? 0);
    fds.bench = Math.max(fds.bench, openFds(process.pid) ?? 0);
  };
  try {
    await until(() => client.health().then((h) => h.ok, () => false), 30_000, 200, 'the hub did not answer /v1/health');
    host = await startFleetGroup(dir, {
      bundle: bundles.host,
      nodeOptions: CFG.hostNodeOptions,
      nice: CFG.hostNice,
      ids,
      perHost: CFG.hostDevices,
      options: { brokerUrl: broker.url, prefix, baseDir: devicesDir, trustedKeyPem: pkg.publicKeyPem, logLevel: CFG.logLevel, concurrency: CFG.startConcurrency },
    });
    r.hosts = host.pids.length;
    r.host_sizes = host.sizes.join('+');
    r.host_fd_limits = [...new Set(host.fdLimits)].join('; ');
    const hostsRss = () => host.pids.reduce((s, p) => s + (memKiB(p)?.rss ?? 0), 0) / 1024;
    r.host_baseline_rss_mib = hostsRss();
    const hostKeys = host.pids.map((_, i) => `host${i + 1}`);
    const pids = { hub: hub.pid, broker: broker.pid, ...Object.fromEntries(host.pids.map((p, i) => [hostKeys[i], p])) };
    for (const pid of Object.values(pids)) resetPeak(pid);
    sampler = new RssSampler(pids, CFG.rssEveryMs, { hosts: hostKeys });
    const hostsCpu = () => host.pids.reduce((s, p) => s + (cpuSeconds(p) ?? 0), 0);

    // power the fleet on; wait until the hub sees every device online (registration + presence)
    const cpu0 = { hub: cpuSeconds(hub.pid), host: hostsCpu(), broker: cpuSeconds(broker.pid) };
    t = performance.now();
    await host.start(600_000);
    let online = 0;
    await until(
      async () => {
        const devs = await retried(() => client.devices(), resets);
        online = devs.filter((d) => d.online === true && d.deviceId.startsWith('fleet-')).length;
        return online >= n;
      },
      120_000 + n * 50,
      1000,
      () => `only ${online} of ${n} devices came online at the hub`,
    );
    r.connect_s = (performance.now() - t) / 1000;
    r.hub_connect_cpu_s = cpuSeconds(hub.pid) - cpu0.hub;
    log(`N=${n}: all ${n} devices online at the hub after ${fix(r.connect_s)} s`);
    if (CFG.waitInventory) {
      // the hub's inventory (the dashboard's) observes Objects 3 and 5 of every device that registers, 16 devices
      // at a time: tens of thousands of requests. A fleet does not come online all at once in one second, so the
      // job is scheduled once that start-up is over instead of racing it (INVENTORY=0 schedules at once)
      t = performance.now();
      let observed = 0;
      await until(
        async () => {
          // a slow or failed answer is asked again at the next poll (until() bounds the wait)
          const page = await fetch(`${hub.url}/v1/inventory?size=1&state=0`, { signal: AbortSignal.timeout(60_000) }).then((res) => (res.ok ? res.json() : {}), () => ({}));
          observed = page.total ?? observed;
          return observed >= n;
        },
        120_000 + n * 100,
        2000,
        () => `the hub's inventory observed only ${observed} of ${n} devices`,
      );
      r.inventory_s = (performance.now() - t) / 1000;
      log(`N=${n}: the hub's inventory observed all ${n} devices after ${fix(r.inventory_s)} s more`);
    }
    await sleep(2000); // let registration follow-ups settle before the measured phase
    r.hub_idle_rss_mib = memKiB(hub.pid).rss / 1024;

    // the job
    const jobId = `fleet-update-${n}`;
    for (const pid of Object.values(pids)) resetPeak(pid);
    sampler.reset();
    job = { t0: performance.now(), scheduledAt: Date.now(), polls: [], parent: undefined, measured: false };
    job.c0 = { hub: cpuSeconds(hub.pid), host: hostsCpu(), broker: cpuSeconds(broker.pid), bench: process.cpuUsage() };
    // the job phase's figures, taken once: when the job ended, or when the run failed on the way
    job.measure = () => {
      if (job.measured) return;
      job.measured = true;
      r.wall_s = (performance.now() - job.t0) / 1000;
      const bench = process.cpuUsage(job.c0.bench);
      r.hub_cpu_s = cpuSeconds(hub.pid) - job.c0.hub;
      r.host_cpu_s = hostsCpu() - job.c0.host;
      r.broker_cpu_s = cpuSeconds(broker.pid) - job.c0.broker;
      r.bench_cpu_s = (bench.user + bench.system) / 1e6;
      sampler.sample();
      const peak = (name, pid) => Math.max(memKiB(pid)?.hwm ?? 0, sampler.max[name]) / 1024;
      r.hub_peak_rss_mib = peak('hub', hub.pid);
      // the hosts' RSS summed at the same sample (their VmHWMs may peak at different times)
      r.host_peak_rss_mib = sampler.max.hosts / 1024;
      r.host_max_one_peak_rss_mib = Math.max(...host.pids.map((p, i) => peak(hostKeys[i], p)));
      r.broker_peak_rss_mib = peak('broker', broker.pid);
      r.host_kib_per_device = ((r.host_peak_rss_mib - r.host_baseline_rss_mib) * 1024) / n;
      countFds();
      Object.assign(r, { host_fds_max: fds.hosts, broker_fds_max: fds.broker, bench_fds_max: fds.bench });
      const q = querySamples.length > 0 ? summarize(querySamples) : undefined;
      if (q) {
        Object.assign(r, { q_during_rounds: q.rounds, q_during_errors: q.errors, q_during_p50_ms: q.history.median, q_during_p95_ms: q.history.p95, q_during_p99_ms: q.history.p99, q_during_max_ms: q.history.max });
        Object.assign(r, { show_during_p50_ms: q.show.median, show_during_p95_ms: q.show.p95, show_during_p99_ms: q.show.p99, show_during_max_ms: q.show.max });
        if (q.firstError) r.q_during_first_error = q.firstError;
      }
      const p = stats(job.polls);
      Object.assign(r, { poll_median_ms: p.median, poll_p95_ms: p.p95, poll_max_ms: p.max, last_status: job.parent?.StatusMessage ?? '' });
    };
    // the devices' own view: each must have booted the new firmware from slot B
    job.devices = async (kids) => {
      const { reports, unhandledRejections, firstUnhandled } = await host.reports();
      r.host_unhandled_rejections = unhandledRejections;
      if (firstUnhandled) r.first_unhandled_rejection = firstUnhandled;
      r.devices_on_new_fw = reports.filter((x) => x.version === newVersion && x.slot === 'B').length;
      r.device_errors = reports.reduce((s, x) => s + x.errors, 0);
      const firstErr = reports.find((x) => x.errors > 0);
      if (firstErr) r.first_device_error = `${firstErr.id}: ${firstErr.lastError}`;
      const boots = stats(reports.map((x) => x.boots));
      Object.assign(r, { boots_median: boots.median, boots_max: boots.max }, phases(reports, kids, job.scheduledAt));
    };
    await client.scheduleFirmwareUpdate(jobId, ids, pkgServer.urlOf(pkg.file), CFG.jobTimeoutS, CFG.maxInFlight === undefined ? {} : { maxInFlight: CFG.maxInFlight });
    r.schedule_ms = performance.now() - job.t0;
    // its own process and connection: neither the bench's event loop nor the status poll below is in its times
    querySampler = await startSamplerProcess({ lib: bundles.lib, hubUrl: hub.url, seed, jobId, everyMs: CFG.sampleEveryMs, t0Epoch: job.scheduledAt });
    let lastLog = 0;
    // each wave of maxInFlight devices may take up to the per-device timeout
    const deadlineS = CFG.jobTimeoutS * (CFG.maxInFlight ? Math.ceil(n / CFG.maxInFlight) : 1) + 120;
    const deadline = job.t0 + deadlineS * 1000;
    for (;;) {
      const tp = performance.now();
      const page = await retried(() => client.queryJobHistory({ filter: { type: 'comparison', property: 'JobId', comparisonOperator: 'eq', value: jobId }, page: { size: 1 } }), resets);
      job.polls.push(performance.now() - tp);
      job.parent = page.jobs[0];
      countFds();
      if (job.parent && isTerminal(job.parent.Status)) break;
      const died = host.died();
      if (died) throw new Error(died);
      if (performance.now() > deadline) {
        r.reason = `bench deadline: the job was still ${job.parent?.Status} after ${deadlineS} s (${job.parent?.StatusMessage})`;
        await client.cancelJob(jobId).catch(() => undefined);
        break;
      }
      if (performance.now() - lastLog > 15_000) {
        lastLog = performance.now();
        log(`N=${n}: ${job.parent?.Progress ?? 0}% — ${job.parent?.StatusMessage ?? ''}`);
      }
      await sleep(Math.max(0, 1000 - (performance.now() - tp)));
    }
    await stopSampler();
    job.measure();
    const statuses = await host.statuses();
    r.host_heap_used_mib = statuses.reduce((s, m) => s + (m?.heapUsed ?? NaN), 0) / 2 ** 20;

    // every child's outcome (once, 1000 a request)
    const detail = await retried(() => client.getJobWithAllChildren(jobId), resets);
    const kids = detail.children;
    const by = (s) => kids.filter((k) => k.Status === s).length;
    Object.assign(r, { parent_status: detail.job.Status, completed: by('Completed'), failed: by('Failed'), cancelled: by('Cancelled'), unfinished: kids.filter((k) => !isTerminal(k.Status)).length, timed_out: kids.filter((k) => k.TimedOut).length });
    r.devices_per_min = (r.completed / r.wall_s) * 60;
    const d = stats(kids.filter((k) => k.StartTime && k.EndTime).map((k) => (Date.parse(k.EndTime) - Date.parse(k.StartTime)) / 1000));
    Object.assign(r, { child_median_s: d.median, child_p95_s: d.p95, child_max_s: d.max });
    const ends = kids.filter((k) => k.EndTime).map((k) => Date.parse(k.EndTime));
    r.first_done_s = ends.length ? (Math.min(...ends) - Date.parse(detail.job.CreatedTime)) / 1000 : NaN;
    const messages = new Map();
    // grouped by message with device ids and paths taken out, so one cause is one line
    const cause = (m) => m.replace(/fleet-\d{5}/g, 'fleet-N').replace(/'\/[^']*'|\/tmp\/\S+/g, 'PATH');
    for (const k of kids.filter((k) => k.Status !== 'Completed')) messages.set(cause(k.StatusMessage), (messages.get(cause(k.StatusMessage)) ?? 0) + 1);
    r.failures = [...messages].sort((a, b) => b[1] - a[1]).map(([m, c]) => `${c}× ${m}`).join(' | ').slice(0, 2000);
    log(`N=${n}: job ${detail.job.Status} in ${fix(r.wall_s)} s: ${r.completed} completed, ${r.failed} failed, ${r.cancelled} cancelled`);

    // query latency over the history (100,000 seeded records + this job), through the running hub's API
    const after = [];
    r.queries = await measureQueries(client, seed, jobId, { runs: CFG.runs, all: after });
    const qa = stats(after);
    Object.assign(r, { q_after_p50_ms: qa.median, q_after_p95_ms: qa.p95, q_after_p99_ms: qa.p99, q_after_max_ms: qa.max });
    const shows = [];
    const show = lib.jobPoller(client, jobId, 100); // as the sampler's job show: one `job show --wait` poll
    for (let i = 0; i < Math.min(CFG.runs, 10); i++) {
      const ts = performance.now();
      await show();
      shows.push(performance.now() - ts);
    }
    const sa = stats(shows);
    Object.assign(r, { show_after_p50_ms: sa.median, show_after_p99_ms: sa.p99 });
    r.hub_final_peak_rss_mib = Math.max(memKiB(hub.pid).hwm, sampler.max.hub) / 1024;
    await job.devices(kids);
    r.host_stop_s = (await host.stop(30_000 + CFG.hostDevices * 30)) / 1000;
    host = undefined;
    r.ok = r.reason === '' && r.completed === n && r.devices_on_new_fw === n;
    if (!r.ok && r.reason === '') r.reason = r.completed !== n ? `${n - r.completed} of ${n} children did not complete: ${r.failures}` : `${n - r.devices_on_new_fw} devices did not end on ${newVersion} in slot B`;
  } catch (e) {
    r.reason = r.reason || String(e.message ?? e);
    log(`N=${n}: FAILED: ${r.reason}`);
    // what can still be measured: the job phase's CPU and memory, and what the devices themselves reached
    if (job && host) {
      await stopSampler();
      job.measure();
      if (host.died()) r.host_died = host.died();
      await job.devices([]).catch(() => undefined);
    }
  } finally {
    r.api_retries = resets.n;
    await stopSampler();
    ctx.samples?.push(...querySamples.map((x) => ({ n, run: ctx.runIndex, ...x })));
    sampler?.stop();
    client.close();
    if (host) await host.stop(30_000 + CFG.hostDevices * 30).catch(() => undefined);
    await stopProcess(hub);
    r.broker_exit = broker.child.exitCode ?? broker.child.signalCode ?? 'running';
    await stopProcess(broker);
    r.broker_drop_notices = countLines(path.join(dir, 'mosquitto.log'), /messages are being dropped/);
    r.load1_end = load1();
    if (CFG.keep !== 'all') rmSync(devicesDir, { recursive: true, force: true });
  }
  return r;
}

