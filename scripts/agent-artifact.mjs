// dist/agent/ (the last step of `npm run build`, and all of `npm run build:agent`): what a board needs and nothing
// else: the agent as one ESM file (no node_modules, no compiler, no npm on the board), its systemd unit, and a
// manifest with checksums. Fails when the bundle would load anything but Node's built-ins (a native add-on must
// then ship per architecture).
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const meta = JSON.parse(readFileSync('dist/fota-agent.meta.json', 'utf8'));
const imports = meta.outputs['dist/fota-agent.mjs'].imports;
// ws (MQTT over WebSocket) tries these native speed-ups inside try/catch and runs without them (ws README,
// "Opt-in for performance"); they are not installed here either, so every test already runs without them. onoff
// (status LED and reset button on sysfs GPIO, with the native epoll) is imported the same way, only when gpio.* is
// configured, and without it the agent drives the sysfs files or the libgpiod tools (docs/platforms.md)
const OPTIONAL = new Set(['bufferutil', 'utf-8-validate', 'onoff']);
const foreign = [...new Set(imports.filter((i) => i.external && !isBuiltin(i.path) && !OPTIONAL.has(i.path)).map((i) => i.path))];
if (foreign.length > 0) {
  console.error(`build:agent: the agent bundle loads ${foreign.join(', ')} from node_modules at run time.`);
  console.error('A board has no node_modules: bundle it, or ship the native add-on per architecture (docs/installation.md).');
  process.exit(1);
}

const out = 'dist/agent';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const files = { 'fota-agent.mjs': 'dist/fota-agent.mjs', 'fota-agent.service': 'systemd/fota-agent.service' };
const sums = {};
for (const [name, from] of Object.entries(files)) {
  copyFileSync(from, `${out}/${name}`);
  sums[name] = createHash('sha256').update(readFileSync(from)).digest('hex');
}
const manifest = { name: 'fota-agent', version: pkg.version, node: pkg.engines.node, nativeAddons: [], files: sums };
writeFileSync(`${out}/manifest.json`, JSON.stringify(manifest, null, 2) + '\n');
const kib = Math.round(readFileSync(`${out}/fota-agent.mjs`).length / 1024);
console.log(`dist/agent/: fota-agent.mjs (${kib} KiB, Node ${pkg.engines.node}, no native add-on), fota-agent.service, manifest.json`);
