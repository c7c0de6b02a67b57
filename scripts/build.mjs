// Builds the two executables as single ESM bundles (the agent is shipped to devices as one file:
// fewer modules to load means a smaller resident set on a 512 MiB board). Type checking is `npm run typecheck`.
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node18',
  sourcemap: 'linked',
  logLevel: 'warning',
  legalComments: 'none',
  // native addons stay outside the bundle and are loaded from node_modules
  external: ['better-sqlite3', 'onoff', 'epoll'],
  // the oldest Node each program runs on: package.json "fota.node" is the one place (protocol/node-version.ts)
  define: { __FOTA_VERSION__: JSON.stringify(pkg.version), __FOTA_NODE_AGENT__: JSON.stringify(pkg.fota.node.agent), __FOTA_NODE_HUB__: JSON.stringify(pkg.fota.node.hub) },
  // some CommonJS dependencies call require(); give the ESM bundle one
  banner: { js: "import { createRequire as __fotaCreateRequire } from 'node:module'; const require = __fotaCreateRequire(import.meta.url);" },
};
// minified: the agent's source text stays in memory for its lifetime (~2 MiB less resident memory on a device)
// its metafile lets scripts/agent-artifact.mjs prove the bundle needs nothing but Node's built-ins
const agent = await build({ ...common, minify: true, keepNames: true, metafile: true, entryPoints: { 'fota-agent': 'agent/main.ts' }, outdir: 'dist', outExtension: { '.js': '.mjs' } });
writeFileSync('dist/fota-agent.meta.json', JSON.stringify(agent.metafile));
await build({ ...common, entryPoints: { fota: 'cli/main.ts' }, outdir: 'dist', outExtension: { '.js': '.mjs' } });
// the hub's web dashboard: browser code and style, served by `fota hub` from dist/dashboard/ (hub/dashboard/assets.ts);
// one module and one stylesheet, nothing fetched from elsewhere at run time
await build({
  // main.ts imports app.css: esbuild writes it beside app.js as app.css
  entryPoints: { app: 'hub/dashboard/ui/main.ts' },
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: ['chrome109', 'firefox115', 'safari16'],
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  outdir: 'dist/dashboard',
});
