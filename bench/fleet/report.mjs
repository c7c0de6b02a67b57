// Formatting for the fleet benchmark: order statistics, Markdown tables and CSV (RFC 4180 quoting).

/** { median, p95, p99, max, count } of a list of numbers (nearest rank); NaN for an empty list. */
export function stats(xs) {
  if (xs.length === 0) return { median: NaN, p95: NaN, p99: NaN, max: NaN, count: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const rank = (q) => s[Math.min(s.length - 1, Math.ceil(s.length * q) - 1)];
  return { median: s[Math.floor((s.length - 1) / 2)], p95: rank(0.95), p99: rank(0.99), max: s[s.length - 1], count: s.length };
}

/** A Markdown table; `align` is a string of l/r per column. */
export function markdown(header, rows, align) {
  const sep = header.map((_, i) => (align?.[i] === 'r' ? '---:' : '---'));
  return [header, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

const cell = (v) => {
  const s = v === undefined || v === null || (typeof v === 'number' && Number.isNaN(v)) ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** CSV text of an array of flat objects (columns: the keys of all rows, in first-seen order). */
export function toCsv(rows) {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return [cols.join(','), ...rows.map((r) => cols.map((c) => cell(r[c])).join(','))].join('\n') + '\n';
}

/** Fixed decimals, or "–" for a missing figure. */
export const fix = (v, d = 1) => (v === undefined || v === null || Number.isNaN(v) ? '–' : v.toFixed(d));