// The Node.js each program needs, checked when it starts: fota-agent runs on Node >= 18.18 (Debian bookworm's
// Node 18 on a board), the fota CLI and hub need Node >= 20 (aedes and better-sqlite3). The numbers live in one
// place, package.json "fota.node", built in by scripts/build.mjs (and read by bin/fota.js). Pure.

/** true when version `current` ("18.19.1", "v20.11.0") is older than `minimum` ("18.18", "20"). */
export function olderThan(current: string, minimum: string): boolean {
  const parts = (v: string) => v.replace(/^v/, '').split('.').map((n) => Number.parseInt(n, 10) || 0);
  const a = parts(current);
  const b = parts(minimum);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  return false;
}

/** The message for a program started on a Node older than it needs, or undefined when the Node is recent enough. */
export function nodeTooOld(program: string, minimum: string | undefined, current: string, why: string): string | undefined {
  if (minimum === undefined || !olderThan(current, minimum)) return undefined;
  return `${program} needs Node.js ${minimum} or newer (${why}); this is Node.js ${current.replace(/^v/, '')}. Install a newer Node.js (docs/installation.md)`;
}
