// The download's socket (wide-read-socket.ts), plain HTTP and HTTPS, against a real loopback server: large pieces, a hold that
// node:http cannot undo, node-fetch's piece-keeping listener dropped, and, through the download as the agent runs it,
// memory that stays flat however many pieces pass.

import { execFile } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import fetch from 'node-fetch';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openHttpStream, type HttpSourceOptions } from '../../agent/adapters/http-source.js';
import { GATHER_WAIT_MS, WIDE_READ_BYTES, WideReadAgent, WideTlsAgent } from '../../agent/adapters/wide-read-socket.js';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '../../platform/agent-runtime.js';
import { blockBody } from '../helpers/block-body.js';
import { makeTestCerts, type TestCerts } from '../helpers/tls.js';

const run = promisify(execFile);

const servers: http.Server[] = [];
let certs: TestCerts;
beforeAll(async () => {
  certs = await makeTestCerts();
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

type Scheme = 'http' | 'https';

/** A server for the scheme: node:http, or node:https with the test certificate. */
function server(scheme: Scheme, handler: http.RequestListener): http.Server {
  const s = scheme === 'https' ? https.createServer({ key: certs.key, cert: certs.cert }, handler) : http.createServer(handler);
  servers.push(s);
  return s;
}

async function listen(s: http.Server, scheme: Scheme): Promise<string> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `${scheme}://127.0.0.1:${(s.address() as AddressInfo).port}/`;
}

/** The download's agent for the scheme, as http-fetch.ts makes it. */
function agentFor(scheme: Scheme): WideReadAgent | WideTlsAgent {
  return scheme === 'https' ? new WideTlsAgent({ keepAlive: false, ca: certs.ca }) : new WideReadAgent({ keepAlive: false });
}

/** Serves `size` bytes of a repeating random block with a Content-Length (or chunked), from memory. */
async function serve(scheme: Scheme, size: number, chunked = false): Promise<{ url: string; sha256: string }> {
  const { handler, sha256 } = blockBody(size, chunked);
  return { url: await listen(server(scheme, handler), scheme), sha256 };
}

/** Serves `size` random bytes 4 KiB at a time, a millisecond apart: a slow link's small reads. */
async function serveSlowly(scheme: Scheme, size: number): Promise<{ url: string; sha256: string }> {
  const body = randomBytes(size);
  const s = server(scheme, (_req, res) => {
    res.writeHead(200, { 'content-length': size });
    void (async () => {
      for (let at = 0; at < size && !res.destroyed; at += 4096) {
        res.write(body.subarray(at, at + 4096));
        await sleep(1);
      }
      res.end();
    })();
  });
  return { url: await listen(s, scheme), sha256: createHash('sha256').update(body).digest('hex') };
}

function options(): HttpSourceOptions {
  return { allowedSchemes: ['http', 'https'], ca: certs.ca, connectTimeoutMs: 10_000, stallTimeoutMs: 10_000, retries: 0, initialDelayMs: 10, maxDelayMs: 10 };
}

describe.each(['http', 'https'] as const)('the download socket over %s', (scheme) => {
  it('hands a consumer slower than the network pieces far larger than libuv’s 64 KiB reads and TLS’s 16 KiB records, and every byte in order', async () => {
    const size = 32 << 20;
    const { url, sha256 } = await serve(scheme, size);
    const stream = await openHttpStream(url, options());
    const hash = createHash('sha256');
    const sizes: number[] = [];
    for await (const c of stream) {
      hash.update(c);
      sizes.push(c.length);
      await sleep(1); // a slot write
    }
    expect(hash.digest('hex')).toBe(sha256);
    expect(Math.max(...sizes)).toBe(WIDE_READ_BYTES);
    // node:http's own reads are at most 64 KiB (512 of them for 32 MiB), node:tls's records 16 KiB (2,048); gathered
    // records make pieces of ~190 KiB on average here (a turn's reads are what the socket holds then)
    expect(sizes.length).toBeLessThan(size / (scheme === 'https' ? 128 << 10 : 256 << 10));
  });

  it('never reads into a piece it handed on: the socket’s pieces, kept to the end, still hold their bytes', async () => {
    // each piece is a copy of its own: node-fetch's listener, where it is not dropped, keeps one past its 'data' event
    for (const slow of [false, true]) {
      const what = slow ? 'a slow link' : 'full speed';
      const size = slow ? 256 << 10 : 16 << 20;
      const { url, sha256 } = slow ? await serveSlowly(scheme, size) : await serve(scheme, size);
      const agent = agentFor(scheme);
      const get = scheme === 'https' ? https.get : http.get;
      const req = get(url, { agent });
      const kept: Buffer[] = [];
      agent.socket?.on('data', (c: Buffer) => kept.push(c));
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => req.on('response', resolve).on('error', reject));
      res.resume();
      await new Promise((r) => res.once('end', r));
      const raw = Buffer.concat(kept);
      const body = raw.subarray(raw.indexOf('\r\n\r\n') + 4);
      expect(createHash('sha256').update(body).digest('hex'), what).toBe(sha256);
      if (slow) {
        // no small piece holds a whole read buffer's memory
        expect(Math.max(...kept.map((c) => c.buffer.byteLength)), what).toBeLessThan(WIDE_READ_BYTES);
      } else {
        const full = kept.filter((c) => c.length === WIDE_READ_BYTES);
        expect(full.length, what).toBeGreaterThan(size / WIDE_READ_BYTES / 4);
        expect(new Set(full.map((c) => c.buffer)).size, `${what}: a buffer of its own for each full piece`).toBe(full.length);
      }
    }
  });

  it('hands on every byte of a body whose last records arrive with the end of the connection', async () => {
    // a small body sent at once, then the connection closed: it ends before the end of the turn that read it
    for (const size of [1, 1000, 100_000, 3 << 20]) {
      for (const chunked of [false, true]) {
        const { url, sha256 } = await serve(scheme, size, chunked);
        const stream = await openHttpStream(url, options());
        const hash = createHash('sha256');
        for await (const c of stream) hash.update(c);
        expect(hash.digest('hex'), `${size} bytes, ${chunked ? 'chunked' : 'Content-Length'}`).toBe(sha256);
      }
    }
  });

  it('reads nothing while held, although node:http resumes its socket whenever the response wants more', async () => {
    const size = 16 << 20;
    const { url } = await serve(scheme, size);
    const agent = agentFor(scheme);
    const get = scheme === 'https' ? https.get : http.get;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => get(url, { agent }, resolve).on('error', reject));
    const socket = agent.socket;
    if (!socket) throw new Error('the agent made no socket');
    let got = 0;
    res.on('data', (c: Buffer) => (got += c.length));
    socket.hold();
    const before = socket.bytesRead;
    res.pause();
    res.resume(); // node:http: readStart(socket) -> socket.resume()
    await sleep(200);
    expect(socket.bytesRead).toBe(before);
    expect(got).toBeLessThan(size);
    socket.release();
    await new Promise((r) => res.once('end', r));
    expect(got).toBe(size);
  });

  it('keeps node:http’s reader and drops node-fetch’s, which holds on to the last piece read', async () => {
    const { url } = await serve(scheme, 1 << 20);
    const agent = agentFor(scheme);
    const res = await fetch(url, { agent, compress: false });
    const socket = agent.socket;
    if (!socket) throw new Error('the agent made no socket');
    const names = socket.listeners('data').map((l) => l.name);
    expect(names).toContain('socketOnData');
    expect(names.length).toBeGreaterThan(1); // node-fetch's (fixResponseChunkedTransferBadEnding)
    socket.dropForeignReaders();
    expect(socket.listeners('data').map((l) => l.name)).toEqual(['socketOnData']);
    expect((await res.arrayBuffer()).byteLength).toBe(1 << 20);
  });

  it('still reports a chunked body cut before its last chunk (the check node-fetch’s dropped listener made)', async () => {
    const s = server(scheme, (_req, res) => {
      res.writeHead(200); // chunked
      res.write(randomBytes(200_000), () => res.socket?.destroy());
    });
    const agent = agentFor(scheme);
    const res = await fetch(await listen(s, scheme), { agent, compress: false });
    agent.socket?.dropForeignReaders();
    await expect(res.arrayBuffer()).rejects.toThrow(/aborted|premature close/i);
  });

  it('keeps memory flat under the agent’s Node flags: no piece is promoted to wait for a full GC (128 MiB, a slow consumer)', async () => {
    const size = 128 << 20;
    const { url, sha256 } = await serve(scheme, size);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fota-wide-read-'));
    try {
      // the download as the agent runs it (openHttpStream, node-fetch, the forced minor GCs), bundled for a child
      // process with the unit's flags: the test worker runs with the JIT, which keeps fewer stale references
      const entry = path.join(dir, 'probe.ts');
      await writeFile(
        entry,
        `import { openHttpStream } from ${JSON.stringify(path.resolve('agent/adapters/http-source.ts'))};
         import { createHash } from 'node:crypto';
         import { open } from 'node:fs/promises';
         const out = await open('/dev/null', 'w');
         const stream = await openHttpStream(process.argv[2], ${JSON.stringify(options())});
         const hash = createHash('sha256');
         let peak = 0;
         for await (const c of stream) {
           hash.update(c);
           await out.write(c); // a slot write: the chunk is referenced across a turn of the loop
           peak = Math.max(peak, process.memoryUsage().arrayBuffers);
         }
         await out.close();
         console.log(JSON.stringify({ sha256: hash.digest('hex'), peak }));`,
      );
      const bundle = path.join(dir, 'probe.mjs');
      await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node18', outfile: bundle, logLevel: 'error' });
      const { stdout } = await run(process.execPath, [...AGENT_NODE_FLAGS, bundle, url], { env: { ...process.env, ...AGENT_ENV } });
      const result = JSON.parse(stdout) as { sha256: string; peak: number };
      expect(result.sha256).toBe(sha256);
      // kept node-fetch's listener, or the body paused instead of the socket: ~64 MiB, where V8's external-memory
      // limit forces a full GC; as built: a few pieces and the read buffer
      expect(result.peak).toBeLessThan(16 << 20);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

/** GETs `url` through the scheme's agent; resolves the body and the socket's gathering counts. `alwaysWait`: every
 * small read (TLS: turn) waits, as on a link whose waits the policy keeps (the default policy first probes). */
async function getGathered(scheme: Scheme, url: string, alwaysWait = false): Promise<{ body: Buffer; pieces: number; waits: number }> {
  const always = { mayWait: () => true, pushed: () => undefined, verdicts: { kept: 0, lost: 0 } };
  const options = { keepAlive: false, ...(alwaysWait ? { gatherPolicy: () => always } : {}) };
  const agent = scheme === 'https' ? new WideTlsAgent({ ...options, ca: certs.ca }) : new WideReadAgent(options);
  const get = scheme === 'https' ? https.get : http.get;
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => get(url, { agent }, resolve).on('error', reject));
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  const counts = agent.socket?.gathering;
  if (!counts) throw new Error('the agent made no socket');
  return { body: Buffer.concat(chunks), ...counts };
}

/** A raw server (TCP, or TLS with the test certificate) that answers any request with what `plan` writes; the
 * connection stays open. */
async function rawServer(scheme: Scheme, plan: (socket: net.Socket) => Promise<void>): Promise<string> {
  const sockets = new Set<net.Socket>();
  const serve = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', () => void plan(socket).catch(() => socket.destroy()));
  };
  const s = scheme === 'https' ? tls.createServer({ key: certs.key, cert: certs.cert }, serve) : net.createServer(serve);
  rawServers.push({ close: () => new Promise<void>((r) => (sockets.forEach((k) => k.destroy()), s.close(() => r()))) });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `${scheme}://127.0.0.1:${(s.address() as AddressInfo).port}/`;
}
const rawServers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(rawServers.splice(0).map((s) => s.close()));
});

describe.each(['http', 'https'] as const)('the download socket over %s on a slow link', (scheme) => {
  it('waits for the kernel to gather small reads into larger pieces, every byte in order', async () => {
    // 4 KiB a millisecond: read as it comes, ~one piece per write; gathered, ~GATHER_WAIT_MS writes per piece, but for
    // the policy's probes (16 pieces as they come, then again after 16, 32, ... waited pieces): ~115 pieces here
    const size = 2 << 20;
    const { url, sha256 } = await serveSlowly(scheme, size);
    const got = await getGathered(scheme, url);
    expect(createHash('sha256').update(got.body).digest('hex')).toBe(sha256);
    const writes = size / 4096;
    expect(got.pieces).toBeLessThan(writes / 3);
    expect(got.waits).toBeGreaterThan(0);
  });

  it('hands on the last bytes at once when the server keeps the connection open after them', async () => {
    // a small body and no end of the stream: the read waits, nothing more comes, and the wait's end pushes what it
    // gathered, so node:http sees the body end (without it, it would wait for bytes that never come)
    const body = randomBytes(3000);
    const url = await rawServer(scheme, async (socket) => {
      socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nconnection: keep-alive\r\n\r\n`), body]));
    });
    const started = Date.now();
    const got = await getGathered(scheme, url, true);
    expect(got.body.equals(body)).toBe(true);
    expect(got.waits).toBe(1);
    // not held until a timeout: within a few waits (generous for a loaded machine)
    expect(Date.now() - started).toBeLessThan(20 * GATHER_WAIT_MS + 2000);
  });
});

describe.each(['http', 'https'] as const)('the download socket’s waits over %s on a real TCP stack (a network namespace of its own)', (scheme) => {
  /** Runs the download of `size` bytes from a server in the same process, inside a new network namespace set up by
   * `setup` (shell, run as root there); resolves what the socket's gathering did. */
  async function inNamespace(setup: string, size: number): Promise<{ ok: boolean; pieces: number; waits: number; verdicts: { kept: number; lost: number }; ms: number }> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fota-gather-'));
    try {
      const entry = path.join(dir, 'probe.ts');
      await writeFile(path.join(dir, 'certs.json'), JSON.stringify(certs));
      await writeFile(
        entry,
        `import http from 'node:http';
         import https from 'node:https';
         import { readFileSync } from 'node:fs';
         import { createHash } from 'node:crypto';
         import { WideReadAgent, WideTlsAgent } from ${JSON.stringify(path.resolve('agent/adapters/wide-read-socket.ts'))};
         import { blockBody } from ${JSON.stringify(path.resolve('test/helpers/block-body.ts'))};
         const certs = JSON.parse(readFileSync(${JSON.stringify(path.join(dir, 'certs.json'))}, 'utf8'));
         const tlsOn = ${scheme === 'https'};
         const size = ${size};
         const { handler, sha256 } = blockBody(size);
         const server = tlsOn ? https.createServer({ key: certs.key, cert: certs.cert }, handler) : http.createServer(handler);
         await new Promise((r) => server.listen(0, '127.0.0.1', r));
         const agent = tlsOn ? new WideTlsAgent({ keepAlive: false, ca: certs.ca }) : new WideReadAgent({ keepAlive: false });
         const started = performance.now();
         const url = (tlsOn ? 'https' : 'http') + '://127.0.0.1:' + server.address().port + '/';
         const res = await new Promise((resolve, reject) => (tlsOn ? https : http).get(url, { agent }, resolve).on('error', reject));
         const hash = createHash('sha256');
         let got = 0;
         for await (const c of res) (hash.update(c), (got += c.length));
         const ms = performance.now() - started;
         server.close();
         console.log(JSON.stringify({ ok: got === size && hash.digest('hex') === sha256, ms, ...agent.socket.gathering }));`,
      );
      const bundle = path.join(dir, 'probe.mjs');
      await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node18', outfile: bundle, logLevel: 'error' });
      const { stdout } = await run('unshare', ['--net', 'sh', '-c', `set -e; ip link set lo up; ${setup}; exec "$0" "$1"`, process.execPath, bundle]);
      return JSON.parse(stdout);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('keeps waiting on a link the network paces (20 MB/s: tc tbf), with fewer, larger pieces', async () => {
    const got = await inNamespace('tc qdisc add dev lo root tbf rate 160mbit burst 256kb latency 200ms', 24 << 20);
    expect(got.ok).toBe(true);
    // (a probe at the start may meet the token bucket's burst: one lost verdict is allowed, not a habit)
    expect(got.verdicts.kept).toBeGreaterThan(got.verdicts.lost);
    expect(got.waits).toBeGreaterThan(got.pieces / 2);
  }, 60_000);

  it('stops waiting where the receive buffer cannot hold a wait’s worth (tcp_rmem 16 KiB, no autotuning)', async () => {
    // a fast sender behind a 16 KiB buffer: a wait fills it in a fraction of a millisecond and the sender stops
    // (without the policy's check, 24 MiB took 10.6 s here against 0.36 s)
    const got = await inNamespace('sysctl -qw net.ipv4.tcp_rmem="4096 16384 16384" net.ipv4.tcp_moderate_rcvbuf=0', 24 << 20);
    expect(got.ok).toBe(true);
    expect(got.verdicts.lost).toBeGreaterThan(0);
    expect(got.verdicts.kept).toBe(0);
    // pieces of ~16 KiB: every one waited on would be ~1,500 waits
    expect(got.waits).toBeLessThan(got.pieces / 20);
  }, 60_000);
});
