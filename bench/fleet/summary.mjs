// The fleet benchmark's Markdown report: the main table (one row per N), where a device's time goes, query
// latencies through the hub's API, the per-device memory slope and notes per run.

import { fix, markdown } from './report.mjs';

/** The Markdown report of all runs. `ctx`: { cfg, started, machine, pkg, seed, newVersion }. */
export function fleetReport(results, ctx) {
  const CFG = ctx.cfg;
  const lines = [];
  lines.push(`## Fleet benchmark run ${ctx.started}`, '');
  lines.push(`Machine: ${ctx.machine}`);
  lines.push(`Package: ${(ctx.pkg.bytes / 1024).toFixed(0)} KiB signed package (image ${CFG.imageSize / 1024} KiB, version ${ctx.newVersion}); broker: ${results[0]?.broker_config ?? ''}; agent log level ${CFG.logLevel}; job timeout ${CFG.jobTimeoutS} s per device${CFG.maxInFlight ? `, maxInFlight ${CFG.maxInFlight}` : ', no maxInFlight (all devices at once)'}`);
  lines.push(`History: ${ctx.seed.records.toLocaleString('en')} job records seeded in ${fix(ctx.seed.ms / 1000)} s (${CFG.parents} parents × ${CFG.children} children), query runs ${CFG.runs}`, '');
  lines.push(`Fleet hosts: at most ${CFG.hostDevices} devices per process, nice ${CFG.hostNice}; fd limits (soft): bench ${ctx.benchFd}, hosts ${results[0]?.host_fd_limits ?? '–'}, Mosquitto ${results[0]?.broker_fd_limit ?? '–'}. API sampler during the job: the six history queries and job show every ${CFG.sampleEveryMs} ms; RSS sampled every ${CFG.rssEveryMs} ms (and VmHWM).`, '');
  const header = ['run', 'N', 'hosts', 'valid', 'wall (s)', 'devices/min', 'Completed / Failed / Cancelled', 'child p50 / p95 (s)', 'hub CPU (s)', 'hub idle → peak RSS (MiB)', 'hosts peak RSS sum / largest (MiB)', 'hosts CPU (s)', 'broker CPU (s) / peak (MiB)', 'query p50 / p99 during (ms)', 'query p99 after (ms)', 'job show p50 / p99 during (ms)', 'load1'];
  const rows = results.map((r) => [
    r.run, r.n, r.hosts ?? '–', r.ok ? 'yes' : 'NO', fix(r.wall_s), fix(r.devices_per_min, 0), `${r.completed ?? '–'} / ${r.failed ?? '–'} / ${r.cancelled ?? '–'}`,
    `${fix(r.child_median_s)} / ${fix(r.child_p95_s)}`, fix(r.hub_cpu_s), `${fix(r.hub_idle_rss_mib, 0)} → ${fix(r.hub_peak_rss_mib, 0)}`,
    `${fix(r.host_peak_rss_mib, 0)} / ${fix(r.host_max_one_peak_rss_mib, 0)}`, fix(r.host_cpu_s), `${fix(r.broker_cpu_s)} / ${fix(r.broker_peak_rss_mib, 0)}`,
    `${fix(r.q_during_p50_ms)} / ${fix(r.q_during_p99_ms)}`, fix(r.q_after_p99_ms), `${fix(r.show_during_p50_ms, 0)} / ${fix(r.show_during_p99_ms, 0)}`, `${r.load1_start} → ${r.load1_end}`,
  ]);
  lines.push(markdown(header, rows, 'rrrlrrlrrrrrrrrrl'), '');
  const timed = results.filter((r) => r.dispatch_median_s !== undefined);
  if (timed.length > 0) {
    lines.push('Where a device\'s time goes (s, median / p95 over devices): dispatch = schedule → Package URI written on the device; download = → package verified in the slot; execute = → the hub executed Update; install = → trial boot, health check, commit; report = → the hub marked the child Completed.', '');
    const cols = ['dispatch', 'download', 'execute', 'install', 'report'];
    lines.push(markdown(['N', ...cols], timed.map((r) => [r.n, ...cols.map((c) => `${fix(r[`${c}_median_s`])} / ${fix(r[`${c}_p95_s`])}`)]), 'r' + 'r'.repeat(cols.length)), '');
  }
  const withQ = results.filter((r) => r.queries);
  if (withQ.length > 0) {
    lines.push(`Query latency through the running hub's HTTP API (ms, median / p95 of ${CFG.runs}; ${ctx.seed.records.toLocaleString('en')} seeded records + the fleet job):`, '');
    const names = withQ[0].queries.map((q) => q.name);
    const qrows = names.map((name, i) => [name, `${withQ[0].queries[i].rows} of ${withQ[0].queries[i].total}`, ...withQ.map((r) => `${fix(r.queries[i]?.median, 2)} / ${fix(r.queries[i]?.p95, 2)}`)]);
    lines.push(markdown(['Query', 'rows of total', ...withQ.map((r) => `run ${r.run}, N=${r.n}`)], qrows, 'lr' + 'r'.repeat(withQ.length)), '');
  }
  const valid = results.filter((r) => r.ok).sort((a, b) => a.n - b.n);
  if (valid.length >= 2 && valid[valid.length - 1].n > valid[0].n) {
    const [a, b] = [valid[0], valid[valid.length - 1]];
    lines.push(`Agent host memory per additional device (N=${a.n} → N=${b.n}): ${fix(((b.host_peak_rss_mib - a.host_peak_rss_mib) * 1024) / (b.n - a.n), 0)} KiB of peak RSS.`, '');
  }
  for (const r of results) {
    const notes = [`run ${r.run}, N=${r.n} (${r.host_sizes ?? '–'} devices per host): queries during the job ${r.q_during_rounds ?? '–'} rounds, p95 ${fix(r.q_during_p95_ms)} max ${fix(r.q_during_max_ms)} ms, ${r.q_during_errors ?? '–'} failed; job show p95 ${fix(r.show_during_p95_ms, 0)} max ${fix(r.show_during_max_ms, 0)} ms, after p50 ${fix(r.show_after_p50_ms, 0)}; status poll p50 / p95 ${fix(r.poll_median_ms)} / ${fix(r.poll_p95_ms)} ms; most open fds: one host ${r.host_fds_max ?? '–'}, Mosquitto ${r.broker_fds_max ?? '–'}, bench ${r.bench_fds_max ?? '–'}; host memory per device ${fix(r.host_kib_per_device, 0)} KiB; device setup ${fix(r.device_setup_s)} s, all online after ${fix(r.connect_s)} s (hub CPU ${fix(r.hub_connect_cpu_s)} s), inventory complete ${fix(r.inventory_s)} s later, first device done ${fix(r.first_done_s)} s after scheduling, host baseline ${fix(r.host_baseline_rss_mib, 0)} MiB, device boots median ${r.boots_median ?? '–'} max ${r.boots_max ?? '–'}, device error logs ${r.device_errors ?? '–'}, API reads retried after a reset connection ${r.api_retries}, fleet stop ${fix(r.host_stop_s)} s, broker "messages are being dropped" notices ${r.broker_drop_notices ?? '–'}`];
    if (r.reason) notes.push(`  — ${r.ok ? '' : 'INVALID: '}${r.reason}`);
    if (!r.ok && r.devices_on_new_fw !== undefined) notes.push(`  — devices running ${ctx.newVersion} from slot B at the end (the devices' own view): ${r.devices_on_new_fw} of ${r.n}`);
    if (!r.ok && r.last_status) notes.push(`  — the hub's last answer about the job: ${r.last_status}`);
    if (r.host_unhandled_rejections > 0) notes.push(`  — the fleet host caught ${r.host_unhandled_rejections} unhandled rejection(s) (each would crash a real agent process); first: ${r.first_unhandled_rejection?.split('\n').slice(0, 3).join(' ')}`);
    if (r.first_device_error) notes.push(`  — first device error: ${r.first_device_error}`);
    if (r.q_during_first_error) notes.push(`  — first failed query during the job: ${r.q_during_first_error}`);
    lines.push(...notes.map((x) => `- ${x}`));
  }
  return lines.join('\n') + '\n';
}
