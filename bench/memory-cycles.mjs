// Memory over many downloads in one process (issue 10 #9): N × (download a signed package over loopback HTTP and
// install it into a slot file) with the agent's own code, Node flags and environment, printing the resident set and
// its parts after each cycle. Bisects the download path: --mode fetch | hash | install | abort (install, aborted at half).
// Usage: npm run build && node bench/memory-cycles.mjs [--cycles 200] [--mode install] [--size 16M]
// (esbuild bundles agent/adapters/{http-source,package-install,memory}.ts + platform/slots/slot-writer.ts from this tree)

import { spawn } from 'node:child_process';
import { createHash, createPublicKey } from 'node:crypto';
import { existsSync, promises as fsp, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(self), '..');
const SLOT_BYTES = 64 << 20;

/** resident set (VmRSS), the glibc main heap ([heap]) and anonymous mappings, MiB; V8's view, MiB */
function sample() {
  let heap = 0;
  let anon = 0;
  let region = '';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) region = line.trim();
    const m = /^Rss:\s+(\d+) kB/.exec(line);
    if (!m) continue;
    if (region.endsWith('[heap]')) heap += Number(m[1]);
    else if (region.split(/\s+/).length === 5) anon += Number(m[1]);
  }
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
  const u = process.memoryUsage();
  const mib = (kib) => (kib / 1024).toFixed(1);
  return { rss: mib(rss), heap: mib(heap), anon: mib(anon), v8: (u.heapUsed / 2 ** 20).toFixed(1), arrayBuffers: (u.arrayBuffers / 2 ** 20).toFixed(1), fds: readdirSync('/proc/self/fd').length };
}

async function child() {
  const { mode, cycles, url, slot, pub, modules } = JSON.parse(process.argv[3]);
  const { openHttpStream, installPackage, openSlotWriter, readSlot, reclaimNow } = await import(modules);
  const key = createPublicKey(readFileSync(pub));
  const http = { allowedSchemes: ['http'], connectTimeoutMs: 10_000, stallTimeoutMs: 30_000, retries: 2, initialDelayMs: 100, maxDelayMs: 1000 };
  for (let i = 1; i <= cycles; i++) {
    const ac = new AbortController();
    const stream = await openHttpStream(url, { ...http, signal: ac.signal });
    if (mode === 'fetch' || mode === 'hash') {
      const hash = createHash('sha256');
      for await (const c of stream) if (mode === 'hash') hash.update(c);
    } else {
      const install = installPackage(stream, {
        deviceType: 'fota-sim',
        trustedKeys: [key],
        allowUnsigned: false,
        slot: {
          capacity: async () => SLOT_BYTES,
          open: (o) => openSlotWriter(slot, o.offset ?? 0, SLOT_BYTES, o.sha256 ? { expect: { sha256: o.sha256, size: o.size } } : {}),
          read: (n) => readSlot(slot, n),
        },
        progress: (written, total) => mode === 'abort' && written >= total / 2 && ac.abort(),
        signal: ac.signal,
      });
      await install.catch((e) => {
        if (mode !== 'abort' || e.name !== 'AbortError') throw e;
      });
    }
    // as PackageDownloader.download does at the end of every download
    reclaimNow();
    await new Promise((r) => setTimeout(r, 20));
    process.stdout.write(`${JSON.stringify({ cycle: i, ...sample() })}\n`);
  }
}

function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      opts.onData?.(String(d));
    });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(String(args[0] ?? cmd))}: exit ${code}`))));
  });
}

async function main() {
  const arg = (name, dflt) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : dflt);
  const cycles = Number(arg('--cycles', '200'));
  const mode = arg('--mode', 'install');
  const size = arg('--size', '16M');
  const fota = path.join(root, 'dist', 'fota.mjs');
  if (!existsSync(fota)) throw new Error('dist/fota.mjs is missing: run `npm run build` first');
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'fota-mem-cycles-'));
  let server;
  try {
    const www = path.join(dir, 'www');
    await fsp.mkdir(www);
    await run(process.execPath, [fota, 'keygen', '-o', path.join(dir, 'release')]);
    await run(process.execPath, [fota, 'sim', 'image', '--version', '2.0.0', '--size', size, '-o', path.join(dir, 'fw.img')]);
    await run(process.execPath, [fota, 'pack', '--image', path.join(dir, 'fw.img'), '--version', '2.0.0', '--device-type', 'fota-sim', '--key', path.join(dir, 'release.key'), '-o', path.join(www, 'fw.fota')]);
    const slot = path.join(dir, 'slot.img');
    await fsp.writeFile(slot, '');
    await fsp.truncate(slot, SLOT_BYTES);
    const { build } = await import('esbuild');
    const modules = path.join(dir, 'modules.mjs');
    const contents = [
      "export { openHttpStream } from './agent/adapters/http-source.ts';",
      "export { installPackage } from './agent/adapters/package-install.ts';",
      "export { openSlotWriter, readSlot } from './platform/slots/slot-writer.ts';",
      "export { reclaimNow } from './agent/adapters/memory.ts';",
      "export { AGENT_ENV, AGENT_NODE_FLAGS } from './platform/agent-runtime.ts';",
    ].join('\n');
    await build({ stdin: { contents, resolveDir: root, loader: 'ts' }, bundle: true, platform: 'node', format: 'esm', target: 'node18', outfile: modules, logLevel: 'error' });
    const { AGENT_ENV, AGENT_NODE_FLAGS } = await import(`file://${modules}`);
    // the package server in its own process, so that serving does not count in the measured one
    const port = await new Promise((resolve, reject) => {
      server = spawn(process.execPath, [path.join(root, 'bench', 'lib', 'range-server.mjs'), www, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
      server.stdout.once('data', (d) => resolve(Number(/listening (\d+)/.exec(String(d))?.[1])));
      server.once('exit', (code) => reject(new Error(`range-server exited ${code}`)));
    });
    const config = { mode, cycles, url: `http://127.0.0.1:${port}/fw.fota`, slot, pub: path.join(dir, 'release.pub'), modules: `file://${modules}` };
    console.log(`${cycles} × ${mode} of a ${size} package, Node ${process.version}, ${AGENT_NODE_FLAGS.join(' ')}, ${Object.keys(AGENT_ENV).map((k) => `${k}=${process.env[k] ?? AGENT_ENV[k]}`).join(' ')}`);
    console.log('cycle  RSS  [heap]  anon  V8-used  ArrayBuffers  fds   (MiB)');
    const every = Math.max(1, Math.round(cycles / 20));
    // the environment may override AGENT_ENV (e.g. MALLOC_ARENA_MAX=8 to compare), as in the simulator
    const env = { ...AGENT_ENV, ...process.env };
    let partial = '';
    await run(process.execPath, [...AGENT_NODE_FLAGS, self, '--child', JSON.stringify(config)], {
      env,
      onData: (text) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines.filter(Boolean)) {
          const s = JSON.parse(line);
          if (s.cycle === 1 || s.cycle % every === 0) console.log(`${String(s.cycle).padStart(5)} ${s.rss} ${s.heap} ${s.anon} ${s.v8} ${s.arrayBuffers} ${s.fds}`);
        }
      },
    });
  } finally {
    server?.kill();
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child();
else await main();
