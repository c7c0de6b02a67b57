// Bundles the fleet benchmark's TypeScript (bench/fleet/lib.ts for the orchestrator, fleet-host-main.ts for the
// fleet host process) with esbuild into a temp dir, the way scripts/build.mjs builds dist/ (no tsx here).
// better-sqlite3 stays external and is loaded from this checkout's node_modules by absolute URL.

import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Builds both bundles into `outDir`; returns their absolute paths { lib, host }. Throws esbuild's error. */
export async function buildBundles(root, outDir) {
  const require = createRequire(path.join(root, 'package.json'));
  const sqlite = pathToFileURL(require.resolve('better-sqlite3')).href;
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  const common = {
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node18',
    logLevel: 'warning',
    absWorkingDir: root,
    define: { __FOTA_VERSION__: JSON.stringify(pkg.version) },
    // CommonJS dependencies (mqtt's) call require(); give the ESM bundle one
    banner: { js: "import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);" },
    plugins: [{ name: 'abs-sqlite', setup: (b) => b.onResolve({ filter: /^better-sqlite3$/ }, () => ({ path: sqlite, external: true })) }],
    external: ['onoff', 'epoll'],
  };
  const lib = path.join(outDir, 'fleet-lib.mjs');
  const host = path.join(outDir, 'fleet-host.mjs');
  await build({ ...common, entryPoints: [path.join(root, 'bench/fleet/lib.ts')], outfile: lib });
  await build({ ...common, entryPoints: [path.join(root, 'bench/fleet/fleet-host-main.ts')], outfile: host });
  return { lib, host };
}
