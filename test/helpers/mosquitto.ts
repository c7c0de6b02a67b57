// Starts a real Mosquitto broker on a free loopback port for a test, and stops it in teardown.
// Mosquitto comes from Debian (`apt-get install mosquitto`; .ci/run installs it).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Broker {
  /** mqtt://127.0.0.1:PORT of the first listener */
  url: string;
  port: number;
  /** every listener's port, in the order the configuration was given them */
  ports: number[];
  /** the broker's folder (its configuration and the `files` given), removed by stop() */
  dir: string;
  /** Mosquitto's stderr so far */
  log(): string;
  /** stops the broker (simulates a broker outage); `start()` brings it back on the same port */
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`mosquitto did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface MosquittoOptions {
  /** user name → password; then only they may connect (mosquitto_passwd file, no anonymous clients) */
  users?: Record<string, string>;
  /**
   * A whole configuration instead of the default one: given the broker's folder and `listeners` free ports (all on
   * 127.0.0.1), it returns the mosquitto.conf text. Persistence stays off and errors go to stderr whatever it says.
   */
  config?: (ctx: { dir: string; ports: number[] }) => string | Promise<string>;
  /** how many free ports `config` gets (default 1) */
  listeners?: number;
  /** files written into the broker's folder before it starts (name → text), readable by the broker */
  files?: Record<string, string>;
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Broker> {
  const dir = await mkdtemp(join(tmpdir(), 'fota-mosq-'));
  // mosquitto started as root reads its files as the "mosquitto" user
  await chmod(dir, 0o755);
  const ports: number[] = [];
  for (let i = 0; i < (opts.config ? (opts.listeners ?? 1) : 1); i++) ports.push(await freePort());
  const port = ports[0] as number;
  const conf = join(dir, 'mosquitto.conf');
  for (const [name, text] of Object.entries(opts.files ?? {})) await writeFile(join(dir, name), text, { mode: 0o644 });
  const auth = ['allow_anonymous true'];
  if (opts.users) {
    const file = join(dir, 'passwd');
    await writeFile(file, '', { mode: 0o644 });
    for (const [user, password] of Object.entries(opts.users)) await run('mosquitto_passwd', ['-b', file, user, password]);
    await chmod(file, 0o644);
    auth.splice(0, 1, 'allow_anonymous false', `password_file ${file}`);
  }
  const text = opts.config
    ? [await opts.config({ dir, ports }), 'persistence false', 'log_type error', 'log_dest stderr', ''].join('\n')
    : [`listener ${port} 127.0.0.1`, ...auth, 'persistence false', 'log_type error', 'log_dest stderr', 'max_inflight_messages 100', ''].join('\n');
  await writeFile(conf, text, { mode: 0o644 });
  let child: ChildProcess | undefined;
  let stderr = '';
  const launch = async () => {
    child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const failed = new Promise<never>((_, reject) => child!.once('error', (e) => reject(new Error(`cannot start mosquitto (${e.message}); install it with: apt-get install mosquitto`))));
    await Promise.race([Promise.all(ports.map((p) => waitForPort(p))), failed]).catch((e: Error) => {
      throw new Error(`${e.message}\n${stderr}`);
    });
  };
  const kill = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
      setTimeout(() => c.kill('SIGKILL'), 2000).unref();
    });
  };
  await launch();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    ports,
    dir,
    log: () => stderr,
    pause: kill,
    resume: launch,
    stop: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
