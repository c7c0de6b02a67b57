// How fota orders firmware versions (anti-rollback, docs/package-format.md "Versions"): SemVer 2.0.0 precedence,
// generalised to any number of numeric components ("3", "2.1", "2024.01.15", "1.2.3.4"; missing ones count as 0).
// Pure: no node:* imports; the agent (refusals) and the hub (display) share one definition.

/** A comparable version: optional "v", numeric components, optional "-prerelease", optional "+build" (ignored). */
const VERSION_RE = /^[vV]?(\d{1,15}(?:\.\d{1,15})*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

interface Parsed {
  release: number[];
  pre: string[];
}

function parse(v: string): Parsed | undefined {
  const m = VERSION_RE.exec(v);
  if (!m) return undefined;
  return { release: (m[1] as string).split('.').map(Number), pre: m[2] === undefined ? [] : m[2].split('.') };
}

/** True when `v` can be ordered (see the file header); "2024-01-15" parses as 2024 with pre-release "01-15". */
export function isComparableVersion(v: string): boolean {
  return parse(v) !== undefined;
}

const sign = (n: number): -1 | 0 | 1 => (n < 0 ? -1 : n > 0 ? 1 : 0);

/** SemVer §11.4: numeric identifiers numerically and below alphanumeric ones, these in ASCII order; longer wins ties. */
function comparePre(a: string[], b: string[]): -1 | 0 | 1 {
  if (a.length === 0 || b.length === 0) return sign(b.length - a.length); // a pre-release is below its release
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined || y === undefined) return x === undefined ? -1 : 1;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn && Number(x) !== Number(y)) return sign(Number(x) - Number(y));
    if (xn !== yn) return xn ? -1 : 1;
    if (!xn && x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** -1, 0 or 1 as `a` is lower than, equal to (build metadata aside) or higher than `b`; undefined when either is not comparable. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 | undefined {
  const x = parse(a);
  const y = parse(b);
  if (!x || !y) return undefined;
  for (let i = 0; i < Math.max(x.release.length, y.release.length); i++) {
    const d = (x.release[i] ?? 0) - (y.release[i] ?? 0);
    if (d !== 0) return sign(d);
  }
  return comparePre(x.pre, y.pre);
}

/** The higher of two floors ("" = none); a floor that is not comparable never replaces a comparable one. */
export function higherFloor(a: string, b: string): string {
  if (a === '') return b;
  if (b === '') return a;
  const c = compareVersions(a, b);
  if (c === undefined) return isComparableVersion(a) ? a : b;
  return c < 0 ? b : a;
}
