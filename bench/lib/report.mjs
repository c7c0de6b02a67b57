// Turns the benchmark's raw rows into CSV and Markdown: medians over the recorded rounds (warm-up left out),
// per-round throughput ratios agent/pipeline (> 1 = the agent is faster), memory figures and the target verdicts.

export const MiB = 1024 * 1024;

export const COLUMNS = [
  'round', 'warmup', 'size_mib', 'package_bytes', 'tool', 'position', 'ok', 'wall_s', 'mb_s', 'user_s', 'sys_s', 'cpu_s',
  'peak_rss_kib', 'peak_anon_kib', 'peak_file_kib', 'peak_pss_kib', 'peak_private_kib', 'rss_samples', 'heap_total_kib', 'heap_used_kib', 'external_kib', 'array_buffers_kib',
  'steal_pct', 'load1', 'note',
];

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const mib = (kib) => kib / 1024;

export function toCsv(rows, columns = COLUMNS) {
  const cell = (v) => {
    const s = v === undefined || v === null || (typeof v === 'number' && !Number.isFinite(v)) ? '' : typeof v === 'number' ? String(Number(v.toFixed(4))) : String(v);
    return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return `${[columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\n')}\n`;
}

/** Per-round ratio pipeline wall / tool wall (= throughput tool / pipeline) for one size, then the median. */
function ratios(rows, size, tool) {
  const per = [];
  for (const r of rows.filter((x) => x.size_mib === size && x.tool === tool && x.ok)) {
    const base = rows.find((x) => x.size_mib === size && x.tool === 'pipeline' && x.round === r.round && x.ok);
    if (base) per.push({ round: r.round, ratio: base.wall_s / r.wall_s });
  }
  return { per, median: median(per.map((p) => p.ratio)) };
}

const TOOL_TEXT = {
  agent: 'agent (fota sim run)',
  pipeline: 'pipeline (curl \\| tee openssl \\| dd fsync)',
  'node-min': 'node-min (minimal Node script)',
};

/**
 * The Markdown report. `memory` = { idle, end, idleProbe?, endProbe? } (memoryKiB() snapshots of the agent process,
 * probePeaks() of PROBE=1);
 * `limits` = { peakMiB, privateMiB, growthMiB }. Returns { markdown, verdicts }.
 */
export function markdown({ rows, sizes, tools, memory, limits, header }) {
  const rec = rows.filter((r) => !r.warmup);
  const out = [...header, ''];
  const verdicts = [];
  out.push('Medians over the recorded rounds (warm-up left out). MB = 10^6 bytes of the package. CPU = user+sys seconds.');
  out.push('ratio = tool throughput / pipeline throughput in the same round (= pipeline wall / tool wall); > 1 means the tool is faster.');
  out.push('');
  out.push('| size | tool | ok/runs | wall s median (min–max) | MB/s | CPU s | peak RSS MiB median (max) | throughput ratio vs pipeline: median (per round) |');
  out.push('|---|---|---|---|---|---|---|---|');
  for (const size of sizes) {
    for (const tool of tools) {
      const rs = rec.filter((r) => r.size_mib === size && r.tool === tool);
      if (rs.length === 0) continue;
      const ok = rs.filter((r) => r.ok);
      const walls = ok.map((r) => r.wall_s);
      const w = median(walls);
      const bytes = rs[0].package_bytes;
      const peaks = ok.map((r) => mib(r.peak_rss_kib)).filter(Number.isFinite);
      let ratioText = '';
      if (tool !== 'pipeline') {
        const r = ratios(rec, size, tool);
        ratioText = `**${fmt(r.median)}** (${r.per.map((p) => fmt(p.ratio)).join(', ')})`;
      }
      out.push(
        `| ${size >= 1024 ? `${size / 1024} GiB` : `${size} MiB`} | ${TOOL_TEXT[tool] ?? tool} | ${ok.length}/${rs.length} | ${fmt(w)} (${fmt(Math.min(...walls))}–${fmt(Math.max(...walls))}) | ` +
          `${fmt(bytes / w / 1e6, 0)} | ${fmt(median(ok.map((r) => r.cpu_s)))} | ${peaks.length ? `${fmt(median(peaks), 1)} (${fmt(Math.max(...peaks), 1)})` : '–'} | ${ratioText} |`,
      );
    }
  }
  out.push('');

  const agentRows = (size) => rec.filter((r) => r.tool === 'agent' && r.size_mib === size && r.ok);
  if (tools.includes('agent')) {
    out.push('Agent memory (MiB). VmRSS = RssAnon + RssFile + RssShmem; "peak" RSS is VmHWM of the agent process, reset before each');
    out.push('download (exact). PSS and private come from /proc/PID/smaps_rollup, sampled every 50 ms with RssAnon/RssFile.');
    out.push('private = anonymous + privately dirtied file pages: what the kernel cannot drop under pressure (no swap). RssFile is');
    out.push('mostly the node binary: clean, shared, dropped and re-read under pressure. PSS splits shared pages among the');
    out.push('processes mapping them, so it is lower here, where other Node processes run, than on a board (docs/benchmarks.md).');
    out.push('');
    out.push('| when | VmRSS / VmHWM | RssAnon | RssFile | PSS | private |');
    out.push('|---|---|---|---|---|---|');
    const snap = (m) => (m ? `${fmt(mib(m.VmRSS), 1)} | ${fmt(mib(m.RssAnon), 1)} | ${fmt(mib(m.RssFile), 1)} | ${fmt(mib(m.smaps?.pss), 1)} | ${fmt(mib(m.smaps?.private), 1)}` : 'n/a | n/a | n/a | n/a | n/a');
    out.push(`| idle: registered, before any download | ${snap(memory.idle)} |`);
    for (const size of sizes) {
      const rs = agentRows(size);
      const p = (k) => `${fmt(median(rs.map((r) => mib(r[k]))), 1)} (max ${fmt(Math.max(...rs.map((r) => mib(r[k]))), 1)})`;
      out.push(`| peak during a ${size} MiB download, median over rounds | ${p('peak_rss_kib')} | ${p('peak_anon_kib')} | ${p('peak_file_kib')} | ${p('peak_pss_kib')} | ${p('peak_private_kib')} |`);
    }
    out.push(`| end: back in Idle after the last round | ${snap(memory.end)} |`);
    out.push(`| start-up peak: VmHWM when idle, before any reset | ${fmt(mib(memory.idle?.VmHWM), 1)} | | | | |`);
    const every = rows.filter((r) => r.tool === 'agent' && Number.isFinite(r.peak_rss_kib)).map((r) => mib(r.peak_rss_kib));
    out.push(`| highest download peak, warm-up included | ${fmt(Math.max(...every), 1)} | | | | |`);
    out.push('');
    if (memory.idleProbe) {
      out.push('PROBE=1: process.memoryUsage() inside the agent (MiB; maxima over each window, sampled every 100 ms):');
      out.push('');
      out.push('| when | V8 heapTotal | heapUsed | external | of which arrayBuffers |');
      out.push('|---|---|---|---|---|');
      const line = (label, p) => (p ? `| ${label} | ${fmt(mib(p.heapTotal), 1)} | ${fmt(mib(p.heapUsed), 1)} | ${fmt(mib(p.external), 1)} | ${fmt(mib(p.arrayBuffers), 1)} |` : `| ${label} | n/a | | | |`);
      out.push(line('idle, before any download', memory.idleProbe));
      for (const size of sizes) {
        const rs = agentRows(size).filter((r) => Number.isFinite(r.heap_total_kib));
        const m = (k) => median(rs.map((r) => r[k]));
        out.push(line(`during a ${size} MiB download (median of the per-run maxima)`, rs.length ? { heapTotal: m('heap_total_kib'), heapUsed: m('heap_used_kib'), external: m('external_kib'), arrayBuffers: m('array_buffers_kib') } : undefined));
      }
      out.push(line('end, back in Idle', memory.endProbe));
      out.push('');
    }

    const all = rec.filter((r) => r.tool === 'agent' && r.ok);
    const ok = all.length > 0 && all.length === rec.filter((r) => r.tool === 'agent').length;
    for (const size of sizes) {
      const r = ratios(rec, size, 'agent').median;
      verdicts.push({ target: `faster than the pipeline at ${size} MiB`, pass: r > 1, value: `ratio ${fmt(r)}` });
    }
    const maxOf = (k) => Math.max(...all.map((r) => mib(r[k])));
    verdicts.push({ target: `peak RSS at most ${limits.peakMiB} MiB`, pass: maxOf('peak_rss_kib') <= limits.peakMiB, value: `max ${fmt(maxOf('peak_rss_kib'), 1)} MiB` });
    verdicts.push({ target: `peak private memory at most ${limits.privateMiB} MiB`, pass: maxOf('peak_private_kib') <= limits.privateMiB, value: `max ${fmt(maxOf('peak_private_kib'), 1)} MiB` });
    if (sizes.length > 1) {
      for (const [k, what] of [['peak_rss_kib', 'RSS'], ['peak_private_kib', 'private memory']]) {
        const lo = median(agentRows(sizes[0]).map((r) => mib(r[k])));
        const hi = median(agentRows(sizes[sizes.length - 1]).map((r) => mib(r[k])));
        verdicts.push({ target: `peak ${what} not growing with size (${sizes[0]} → ${sizes[sizes.length - 1]} MiB within ${limits.growthMiB} MiB)`, pass: hi - lo <= limits.growthMiB, value: `${fmt(lo, 1)} → ${fmt(hi, 1)} MiB` });
      }
    }
    if (!ok) verdicts.push({ target: 'every agent run reached Downloaded', pass: false, value: `${all.length}/${rec.filter((r) => r.tool === 'agent').length}` });
    out.push('| target | met? | measured |');
    out.push('|---|---|---|');
    for (const v of verdicts) out.push(`| ${v.target} | ${v.pass ? 'yes' : '**no**'} | ${v.value} |`);
    out.push('');
  }

  const failures = rows.filter((r) => !r.ok);
  if (failures.length) {
    out.push('Failed runs:');
    for (const f of failures) out.push(`- round ${f.round}, ${f.size_mib} MiB, ${f.tool}: ${f.note}`);
    out.push('');
  }
  out.push('Noise: steal % per run (from /proc/stat) median ' + fmt(median(rows.map((r) => r.steal_pct)), 1) + ', max ' + fmt(Math.max(...rows.map((r) => r.steal_pct)), 1) + '; load1 at run start median ' + fmt(median(rows.map((r) => r.load1))) + '.');
  return { markdown: out.join('\n'), verdicts };
}
