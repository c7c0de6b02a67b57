// A native CPU profile of one process with `perf record` (Debian's linux-perf), summed by where the time goes: the
// SHA-256 code, the kernel, V8's interpreter, V8's own C++ (the GC above all), memory copies, malloc. A JavaScript
// profile (--cpu-prof) cannot see these. perf samples `cpu-clock` (a guest without hardware counters has it too), so
// the event count is CPU time.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { trackChild } from './children.mjs';

/** Whether `perf record` can run here: the perf binary answers (root, or perf_event_paranoid allowing it). */
export function perfWorks() {
  return spawnSync('perf', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Starts `perf record` on `pid` (every thread it has), writing `out`; resolves once perf has attached. stop() ends it
 * (SIGINT, as a Ctrl-C would) and resolves once the file is written.
 */
export async function startPerf(pid, out) {
  const child = spawn('perf', ['record', '-e', 'cpu-clock', '-F', '999', '-g', '-o', out, '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  const entry = trackChild('perf record', child, { graceMs: 10_000 });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  // perf creates its output file once it is attached
  for (let i = 0; i < 100 && !existsSync(out) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 20));
  if (child.exitCode !== null) throw new Error(`perf record exited (${child.exitCode}): ${err.trim().slice(0, 300)}`);
  await new Promise((r) => setTimeout(r, 100));
  return {
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      await entry.exited;
    },
  };
}

/** Where a symbol's samples go; the first that matches. */
const WHERE = [
  ['SHA-256 (OpenSSL)', (dso, sym) => /sha256/i.test(sym)],
  ['other crypto (TLS)', (dso, sym) => /aes|gcm|chacha|poly1305|ghash|x25519|ecp_nistz|bn_mul|ossl_/i.test(sym)],
  ['kernel', (dso) => dso === '[kernel.kallsyms]'],
  ['V8 interpreter and builtins', (dso, sym) => sym.startsWith('Builtins_')],
  ['V8 runtime and GC (C++)', (dso, sym) => /v8::|cppgc::|heap::/.test(sym)],
  ['memcpy / memmove', (dso, sym) => /mem(move|cpy)/.test(sym)],
  ['malloc / free', (dso, sym) => /malloc|free|_int_|tcache|arena/.test(sym)],
  ['other', () => true],
];

/**
 * The profile in `file`, summed: { cpuS, rows: [{ where, share, cpuS }], top: [{ dso, sym, share }] } (share in %).
 */
export function summarizePerf(file) {
  const text = execFileSync('perf', ['report', '-i', file, '--no-children', '--sort', 'dso,sym', '--stdio', '-g', 'none', '--percent-limit', '0'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const count = /^# Event count \(approx\.\): (\d+)/m.exec(text);
  const cpuS = count ? Number(count[1]) / 1e9 : NaN;
  const sums = new Map(WHERE.map(([w]) => [w, 0]));
  const top = [];
  for (const line of text.split('\n')) {
    const m = /^\s+([\d.]+)%\s+(\S+)\s+\[.\]\s+(.+?)\s*$/.exec(line);
    if (!m) continue;
    const [share, dso, sym] = [Number(m[1]), m[2], m[3]];
    const [where] = WHERE.find(([, test]) => test(dso, sym));
    sums.set(where, sums.get(where) + share);
    if (top.length < 12) top.push({ dso, sym, share });
  }
  const rows = [...sums].filter(([, s]) => s > 0).map(([where, share]) => ({ where, share, cpuS: (share / 100) * cpuS }));
  return { cpuS, rows, top };
}

/** The summary as markdown lines: a table by where, then the top symbols. */
export function perfMarkdown(title, { cpuS, rows, top }) {
  const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  return [
    `${title}: ${f(cpuS)} CPU-s sampled`,
    '',
    '| where | share | CPU-s |',
    '|---|---|---|',
    ...rows.map((r) => `| ${r.where} | ${f(r.share, 1)}% | ${f(r.cpuS)} |`),
    '',
    `Top symbols: ${top.map((t) => `${t.sym.replace(/\|/g, '\\|').slice(0, 60)} (${t.dso}) ${f(t.share, 1)}%`).join('; ')}.`,
  ];
}
