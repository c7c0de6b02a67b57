// Measures HTTP clients for the agent's package download: body → SHA-256 → fs.writeSync → fsync, one child process
// per run (wall, CPU, peak RSS from process.resourceUsage().maxRSS); median of interleaved rounds, Markdown table.
// Usage: node bench/http-client-compare.mjs [--mib 512] [--rounds 5] [--only <name part>] [--reclaim-kib 1024]
//        [--base <checkout>] [--delay-ms N] [--agent-flags]   (no build needed: esbuild bundles agent/adapters/{memory,http-source}.ts into the temp
// dir; --base adds the openHttpStream of another checkout, e.g. a worktree of main, to the same interleaved rounds;
// --delay-ms waits N ms after each chunk, a consumer slower than the network as on a board; --agent-flags runs the
// children with the agent's Node flags, --jitless --no-expose-wasm --max-semi-space-size=1)

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(self), '..');

/** The measured clients. Each streams `url` into `out`, hashing on the way; `reclaim` is the memory helper or null. */
const CLIENTS = {
  'node:http': async (url, out, reclaim) => {
    const res = await new Promise((resolve, reject) => http.get(url, resolve).on('error', reject));
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
    return consume(res, out, reclaim);
  },
  'node-fetch v3': async (url, out, reclaim) => {
    const { default: fetch } = await import('node-fetch');
    const res = await fetch(url, { compress: false });
    if (res.status !== 200) throw new Error(`status ${res.status}`);
    return consume(res.body, out, reclaim);
  },
  'openHttpStream': async (url, out, reclaim, config) => {
    const { openHttpStream } = await import(config.base ? config.baseSource : config.source);
    const stream = await openHttpStream(url, {
      allowedSchemes: ['http'], connectTimeoutMs: 10_000, stallTimeoutMs: 30_000, retries: 2,
      initialDelayMs: 100, maxDelayMs: 1000, reclaimEveryBytes: reclaim ? config.reclaimBytes : 0,
    });
    // the source runs the memory helper itself (reclaimEveryBytes): the consumer must not run it a second time
    return consume(stream, out, null);
  },
};

const VARIANTS = [
  { name: 'bare node (floor)', client: null, reclaim: false },
  { name: 'node:http', client: 'node:http', reclaim: false },
  { name: 'node:http + reclaim', client: 'node:http', reclaim: true },
  { name: 'node-fetch v3', client: 'node-fetch v3', reclaim: false },
  { name: 'node-fetch v3 + reclaim', client: 'node-fetch v3', reclaim: true },
  { name: 'openHttpStream', client: 'openHttpStream', reclaim: false },
  { name: 'openHttpStream + reclaim', client: 'openHttpStream', reclaim: true },
];

/** --base: the agent's source (as it runs, with reclaim) from another checkout */
const BASE = { name: 'openHttpStream + reclaim (base)', client: 'openHttpStream', reclaim: true };

async function consume(body, out, reclaim, delayMs = Number(process.env.BENCH_DELAY_MS ?? 0)) {
  const { openSync, writeSync, fsyncSync, closeSync } = await import('node:fs');
  const fd = openSync(out, 'w');
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of body) {
      hash.update(chunk);
      for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
      bytes += chunk.length;
      reclaim?.(chunk.length);
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return { bytes, sha256: hash.digest('hex') };
}

async function child() {
  const [variantName, url, out, configJson] = process.argv.slice(3);
  const variant = [...VARIANTS, BASE].find((v) => v.name === variantName);
  const config = { ...JSON.parse(configJson), base: variant === BASE };
  let result = { bytes: 0, sha256: '' };
  let gcMs = 0;
  const t0 = performance.now();
  if (variant.client) {
    let reclaim = null;
    if (variant.reclaim) {
      // timed here, in the consumer; openHttpStream runs its own (untimed) copy instead
      const inner = (await import(config.memory)).reclaimEvery(config.reclaimBytes);
      reclaim = (n) => {
        const t = performance.now();
        inner(n);
        gcMs += performance.now() - t;
      };
    }
    result = await CLIENTS[variant.client](url, out, reclaim, config);
  }
  const wallMs = performance.now() - t0;
  const ru = process.resourceUsage();
  process.stdout.write(JSON.stringify({ ...result, wallMs, gcMs, userMs: ru.userCPUTime / 1000, sysMs: ru.systemCPUTime / 1000, maxRssKiB: ru.maxRSS }));
}

function runChild(variant, url, out, config) {
  return new Promise((resolve, reject) => {
    const flags = config.agentFlags ? ['--jitless', '--no-expose-wasm', '--max-semi-space-size=1'] : [];
    const p = spawn(process.execPath, [...flags, self, '--child', variant.name, url, out, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_DELAY_MS: String(config.delayMs) } });
    let text = '';
    p.stdout.on('data', (d) => (text += d));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`${variant.name}: exit ${code}`))));
  });
}

async function makeBody(file, mib) {
  // 1 MiB of random bytes repeated: incompressible enough, cheap to make
  const block = randomBytes(1 << 20);
  const hash = createHash('sha256');
  const ws = createWriteStream(file);
  for (let i = 0; i < mib; i++) {
    hash.update(block);
    if (!ws.write(block)) await new Promise((r) => ws.once('drain', r));
  }
  await new Promise((resolve, reject) => ws.end((e) => (e ? reject(e) : resolve())));
  return hash.digest('hex');
}

async function bundle(dir, base) {
  const { build } = await import('esbuild');
  const entries = { memory: [root, 'agent/adapters/memory.ts'], source: [root, 'agent/adapters/http-source.ts'] };
  if (base) entries.baseSource = [path.resolve(base), 'agent/adapters/http-source.ts'];
  const modules = {};
  for (const [name, [from, entry]] of Object.entries(entries)) {
    const outfile = path.join(dir, `${name}.mjs`);
    await build({ entryPoints: [path.join(from, entry)], bundle: true, platform: 'node', format: 'esm', target: 'node18', outfile, logLevel: 'error' });
    modules[name] = `file://${outfile}`;
  }
  return modules;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** "median (min–max)" */
const spread = (xs, digits = 0) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

async function main() {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const mib = arg('--mib', 512);
  const rounds = arg('--rounds', 5);
  const reclaimBytes = arg('--reclaim-kib', 1024) * 1024;
  // --only <substring>: measure just the variants whose name contains it (plus the floor)
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : '';
  const base = process.argv.includes('--base') ? process.argv[process.argv.indexOf('--base') + 1] : '';
  const variants = [...VARIANTS, ...(base ? [BASE] : [])].filter((v) => !v.client || v.name.includes(only));
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'fota-bench-'));
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(mib << 20) });
    createReadStream(path.join(dir, 'body.bin'), { highWaterMark: 1 << 16 }).pipe(res);
  });
  try {
    const [expected, modules] = await Promise.all([makeBody(path.join(dir, 'body.bin'), mib), bundle(dir, base)]);
    const config = { ...modules, reclaimBytes, delayMs: arg('--delay-ms', 0), agentFlags: process.argv.includes('--agent-flags') };
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${server.address().port}/body.bin`;
    const samples = new Map(variants.map((v) => [v.name, []]));
    for (let round = 0; round < rounds; round++) {
      // interleaved, and rotated so no variant always runs right after the same neighbour
      const order = variants.map((_, i) => variants[(i + round) % variants.length]);
      for (const variant of order) {
        const out = path.join(dir, 'out.bin');
        const r = await runChild(variant, url, out, config);
        await fsp.rm(out, { force: true });
        if (variant.client && (r.sha256 !== expected || r.bytes !== mib << 20)) throw new Error(`${variant.name}: wrong bytes`);
        samples.get(variant.name).push(r);
        process.stderr.write(`round ${round + 1}/${rounds} ${variant.name}: ${(r.maxRssKiB / 1024).toFixed(1)} MiB, ${r.wallMs.toFixed(0)} ms\n`);
      }
    }
    console.log(`\n${mib} MiB over loopback, Node ${process.version}, ${os.cpus().length} CPUs, median (min–max) of ${rounds} rounds;`);
    if (base) console.log(`(base) = agent/adapters/http-source.ts of ${base}`);
    console.log(`reclaim = a minor GC every ${reclaimBytes / 1024} KiB; "in GC" = time inside those calls (timed in the consumer)`);
    if (config.delayMs || config.agentFlags) console.log(`consumer waits ${config.delayMs} ms per chunk; children ${config.agentFlags ? 'with' : 'without'} the agent's Node flags`);
    console.log('CPU = user + sys of the whole child process, startup included (see the floor row)\n');
    console.log('| client | peak RSS (MiB) | wall (ms) | CPU user (ms) | CPU sys (ms) | CPU total (ms) | in GC (ms) |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const v of variants) {
      const s = samples.get(v.name);
      const wall = v.client ? spread(s.map((x) => x.wallMs)) : '–';
      const gc = v.reclaim && v.client !== 'openHttpStream' ? spread(s.map((x) => x.gcMs)) : '–';
      const cells = [spread(s.map((x) => x.maxRssKiB / 1024), 1), wall, spread(s.map((x) => x.userMs)), spread(s.map((x) => x.sysMs)), spread(s.map((x) => x.userMs + x.sysMs)), gc];
      console.log(`| ${v.name} | ${cells.join(' | ')} |`);
    }
  } finally {
    server.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child();
else await main();
