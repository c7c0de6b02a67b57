// Which test files the Node 18 leg runs (vitest.node18.config.ts): every unit, contract and integration test whose
// imports, followed through the repository, never reach a package that needs Node 20 — better-sqlite3 (built for
// the system Node's ABI) and aedes, both the hub's. So the agent's tests, and the wire-contract tests that pair the
// agent with HubLink, run on Node 18; the job store, the HTTP API and the job CLI do not. No list to maintain — but a
// file that needs Node 20 in a way imports do not show (it spawns the `fota` CLI, which checks for Node >= 20 at
// start; it loads a native add-on built for the system Node's ABI) says so with a line `// node18-leg: no (why)`.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const NODE20_ONLY = new Set(['better-sqlite3', 'aedes']);
const OPT_OUT = /^\/\/ node18-leg: no \(.+\)$/m;
const IMPORT = /(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g;

function testFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : []));
}

/** The repository file an import names (ESM imports say .js for a .ts source), or undefined for a package. */
function source(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const p = resolve(dirname(from), spec);
  for (const c of [p.replace(/\.js$/, '.ts'), p, `${p}.ts`, join(p, 'index.ts')]) if (existsSync(c) && c.endsWith('.ts')) return c;
  return undefined;
}

/** The package an import names ("better-sqlite3", "@scope/x"), or undefined for a relative or node: import. */
function pkg(spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('node:')) return undefined;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

export function node18TestFiles(root: string): string[] {
  const needsNode20 = new Map<string, boolean>();
  const visit = (file: string, path: Set<string>): boolean => {
    const known = needsNode20.get(file);
    if (known !== undefined) return known;
    if (path.has(file)) return false; // a cycle: decided where it started
    path.add(file);
    let found = false;
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1]!;
      const name = pkg(spec);
      if (name !== undefined ? NODE20_ONLY.has(name) : (() => {
        const next = source(file, spec);
        return next !== undefined && visit(next, path);
      })()) {
        found = true;
        break;
      }
    }
    path.delete(file);
    needsNode20.set(file, found);
    return found;
  };
  return ['test/unit', 'test/contract', 'test/integration']
    .flatMap((d) => testFiles(join(root, d)))
    .filter((f) => !visit(f, new Set()) && !OPT_OUT.test(readFileSync(f, 'utf8')))
    .map((f) => relative(root, f))
    .sort();
}
