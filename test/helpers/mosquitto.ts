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
  url: string;
  port: number;
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

/** `users`: user name → password; then only they may connect (mosquitto_passwd file, no anonymous clients). */
export async function startMosquitto(opts: { users?: Record<string, string> } = {}): Promise<Broker> {
  const dir = await mkdtemp(join(tmpdir(), 'fota-mosq-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  const auth = ['allow_anonymous true'];
  if (opts.users) {
    // mosquitto started as root reads its files as the "mosquitto" user
    await chmod(dir, 0o755);
    const file = join(dir, 'passwd');
    await writeFile(file, '', { mode: 0o644 });
    for (const [user, password] of Object.entries(opts.users)) await run('mosquitto_passwd', ['-b', file, user, password]);
    await chmod(file, 0o644);
    auth.splice(0, 1, 'allow_anonymous false', `password_file ${file}`);
  }
  await writeFile(conf, [`listener ${port} 127.0.0.1`, ...auth, 'persistence false', 'log_type error', 'log_dest stderr', 'max_inflight_messages 100', ''].join('\n'), { mode: 0o644 });
  let child: ChildProcess | undefined;
  let stderr = '';
  const launch = async () => {
    child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const failed = new Promise<never>((_, reject) => child!.once('error', (e) => reject(new Error(`cannot start mosquitto (${e.message}); install it with: apt-get install mosquitto`))));
    await Promise.race([waitForPort(port), failed]).catch((e: Error) => {
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
    pause: kill,
    resume: launch,
    stop: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
