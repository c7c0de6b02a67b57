// `fota hub` as a real process for tests (from the built dist/): started on a free port, its output kept, and
// checked at the end for an unhandled rejection (the hub logs one before it exits: a bug every test must catch).
// Everything started here is stopped by `stop()` or `kill()`; tests call one of them in teardown.

import { spawn, type ChildProcess } from 'node:child_process';
import { JobClient } from '../../hub/job-client.js';
import { freePort } from './mosquitto.js';
import { FOTA, waitFor } from './sim-device.js';

export interface HubProcess {
  proc: ChildProcess;
  url: string;
  client: JobClient;
  output(): string;
  /** resolves with the exit code (null after a signal) once the process has exited */
  exited: Promise<number | null>;
  /** SIGTERM, waits for the exit; throws when the hub logged an unhandled rejection or did not exit 0 by itself */
  stop(): Promise<void>;
  /** SIGKILL (a crash or power cut of the hub host), waits for the exit */
  kill(): Promise<void>;
}

/** The lines of a hub's output that report an unhandled rejection or exception (none expected, ever). */
export function unhandledIn(output: string): string[] {
  return output.split('\n').filter((l) => /unhandled (rejection|exception)|UnhandledPromiseRejection/i.test(l));
}

/**
 * Starts `fota hub --db DB …args` on a free API port and waits until the API answers (or the process exits, which
 * rejects with its output). `args` carry the broker options (`--broker URL`, or `--mqtt-listen`).
 */
export async function startHubProcess(db: string, args: string[], env: Record<string, string> = {}): Promise<HubProcess> {
  const port = await freePort();
  const proc = spawn(process.execPath, [FOTA, 'hub', '--db', db, '--listen', `127.0.0.1:${port}`, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const client = new JobClient({ url, ...(env.FOTA_HUB_TOKEN ? { token: env.FOTA_HUB_TOKEN } : {}) });
  let gone = false;
  void exited.then(() => (gone = true));
  const check = () => {
    const bad = unhandledIn(out);
    if (bad.length > 0) throw new Error(`the hub logged an unhandled rejection:\n${bad.join('\n')}`);
  };
  const end = async (signal: NodeJS.Signals) => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  await waitFor('the hub API', 20_000, async () => {
    if (gone) throw new Error(`the hub exited before its API answered:\n${out}`);
    return client.health().then(
      () => true,
      (e: { status?: number }) => (e.status === 503 ? true : undefined),
    );
  }).catch(async (e: unknown) => {
    await end('SIGKILL');
    throw e;
  });
  return {
    proc,
    url,
    client,
    output: () => out,
    exited,
    stop: async () => {
      await end('SIGTERM');
      check();
      if (proc.exitCode !== 0) throw new Error(`the hub did not stop cleanly on SIGTERM (exit ${proc.exitCode ?? proc.signalCode}):\n${out.slice(-4000)}`);
    },
    kill: () => end('SIGKILL'),
  };
}
