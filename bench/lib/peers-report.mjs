// The peers benchmark's table: per size and tool, medians over the recorded rounds (warm-up left out), per-round wall
// ratios against the pipeline, SWUpdate and Mender (then their median), the wall with a `sync` right after (what the
// tool left in the page cache, written out), CPU and its per-round ratio against Mender's
// (issue 12's CPU goal), and the peak memory sums; and what each
// tool does for durability, so that the comparison stays honest.

import { median } from './report.mjs';

export const PEER_COLUMNS = ['round', 'warmup', 'size_mib', 'tool', 'position', 'ok', 'wall_s', 'download_s', 'sync_s', 'cpu_s', 'rss', 'pss', 'private', 'load1', 'note'];

const TEXT = {
  pipeline: 'pipeline: curl \\| tee >(openssl dgst) \\| dd conv=fsync',
  fota: 'fota (the systemd unit\'s flags)',
  'fota-jit': 'fota without --jitless',
  'fota-b': 'fota-b (FOTA_B_BIN, the unit\'s flags and FOTA_B_FLAGS)',
  mender: 'Mender: mender install (standalone)',
  swupdate: 'SWUpdate: swupdate -d -u',
};

/** Measured once by /work/shared/peers (strace, source) and by fota's own code; not re-measured per run. */
const DURABILITY = {
  pipeline: 'one fsync at the end; checks nothing before use',
  fota: 'fdatasync + resume checkpoint every 16 MiB; signature before the first byte; slot read back and hashed (the image\'s only SHA-256) before the env flip',
  'fota-jit': 'as fota',
  'fota-b': 'as fota (if that build does the same)',
  mender: 'fsync after every 1 MiB; reads each 1 MiB back and skips it when unchanged; checksum at the end (artifact unsigned here)',
  swupdate: 'no fsync of the slot: its close(), the device\'s last, writes the pages back (no cache flush); CMS-signed sw-description, sha256 at the end',
};

const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const mib = (kib) => kib / 1024;

/** Per-round ratios a[key] / b[key] (wall by default) for one size, and their median. */
function ratios(rows, size, a, b, key = 'wall_s') {
  const per = [];
  for (const r of rows.filter((x) => x.size_mib === size && x.tool === a && x.ok)) {
    const base = rows.find((x) => x.size_mib === size && x.tool === b && x.round === r.round && x.ok);
    if (base) per.push(r[key] / base[key]);
  }
  return per.length ? `${fmt(median(per))} (${per.map((x) => fmt(x)).join(', ')})` : '–';
}

export function peersMarkdown({ rows, sizes, tools, header }) {
  const rec = rows.filter((r) => !r.warmup);
  const out = [...header, ''];
  out.push('Medians over the recorded rounds. wall: fota from the Package URI write to the U-Boot environment written (its start-up is');
  out.push('not counted: the peers\' is); the others from spawn to exit. ratio = tool wall / other wall in the same round (< 1: the');
  out.push('tool is faster), median (per round). wall + sync = with the `sync` run right after the tool: what it left in the page');
  out.push('cache, written out (a power cut before that would lose it). CPU = user+sys of the tool and its reaped children; its ratio the same way. Memory = peak sums over the');
  out.push('tool\'s processes, sampled every 50 ms: private is what the kernel cannot drop (docs/benchmarks.md, "Memory as a board');
  out.push('sees it"); PSS here is lower than on a board, where no other process shares the binaries.');
  for (const size of sizes) {
    out.push('', `**${size >= 1024 ? `${size / 1024} GiB` : `${size} MiB`}**`, '');
    // an A/B of two builds (fota-b): their ratio too
    const others = ['pipeline', 'swupdate', 'mender', ...(tools.includes('fota-b') ? ['fota'] : [])].filter((t) => tools.includes(t));
    const cpuVs = tools.includes('mender') ? ['mender'] : [];
    out.push(`| tool | ok/runs | wall s median (min–max) | MB/s | wall + sync s | CPU s | peak RSS / PSS / private MiB | ${[...others.map((o) => `ratio vs ${o}`), ...cpuVs.map((o) => `CPU ratio vs ${o}`)].join(' | ')} |`);
    out.push(`|---|---|---|---|---|---|---|${[...others, ...cpuVs].map(() => '---|').join('')}`);
    for (const tool of tools) {
      const rs = rec.filter((r) => r.size_mib === size && r.tool === tool);
      if (!rs.length) continue;
      const ok = rs.filter((r) => r.ok);
      const walls = ok.map((r) => r.wall_s);
      const m = (k) => median(ok.map((r) => r[k]));
      out.push(`| ${TEXT[tool]} | ${ok.length}/${rs.length} | ${fmt(median(walls))} (${fmt(Math.min(...walls))}–${fmt(Math.max(...walls))}) | ${fmt((size * 2 ** 20) / median(walls) / 1e6, 0)} | ${fmt(median(ok.map((r) => r.wall_s + r.sync_s)))} | ${fmt(m('cpu_s'))} | ${fmt(mib(m('rss')), 1)} / ${fmt(mib(m('pss')), 1)} / ${fmt(mib(m('private')), 1)} | ${[...others.map((o) => (o === tool ? '1' : ratios(rec, size, tool, o))), ...cpuVs.map((o) => (o === tool ? '1' : ratios(rec, size, tool, o, 'cpu_s')))].join(' | ')} |`);
    }
    const fotaDl = tools.filter((t) => t.startsWith('fota')).map((t) => `${t} ${fmt(median(rec.filter((r) => r.size_mib === size && r.tool === t && r.ok).map((r) => r.download_s)))} s`);
    if (fotaDl.length) out.push('', `fota up to Downloaded only (before the Update execute and the environment write): ${fotaDl.join(', ')}.`);
  }
  out.push('', '| tool | durability and checks |', '|---|---|');
  for (const t of tools) out.push(`| ${TEXT[t]} | ${DURABILITY[t]} |`);
  const failures = rows.filter((r) => !r.ok);
  if (failures.length) out.push('', 'Failed runs:', ...failures.map((f) => `- round ${f.round}, ${f.size_mib} MiB, ${f.tool}: ${f.note}`));
  out.push('', `load1 at run start: median ${fmt(median(rows.map((r) => r.load1)))}, max ${fmt(Math.max(...rows.map((r) => r.load1)))}.`);
  return out.join('\n');
}
