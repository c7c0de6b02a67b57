// A private machine for running documentation examples verbatim: new PID, network and mount namespaces (unshare),
// with its own loopback (so the documented default ports 1883, 8080, 8640 are free and nothing leaves the box)
// and its own /tmp (a tmpfs: the documented /tmp paths are private). Commands enter it with nsenter. Closing it
// kills its PID 1, and the kernel kills every process left inside (servers, `… &` jobs). Needs root.
//
// INVARIANTS
// - Every process a sandbox starts lives in its PID namespace, so close() leaves nothing behind.
// - Nothing here touches the host's /tmp or network: only loopback inside the namespace.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Sandbox {
  /** Runs `script` with bash (`set -euo pipefail`) in `cwd` and waits for bash to exit (its `… &` jobs stay). */
  run(script: string, opts?: { cwd?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<RunResult>;
  /** Starts `script` and resolves once its output matches `ready`; rejects if it exits first or takes too long. */
  background(script: string, ready: RegExp, opts?: { cwd?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<{ output(): string }>;
  close(): Promise<void>;
}

/** `bin` lists commands put on the sandbox's PATH: name → absolute path of the executable. */
export async function openSandbox(opts: { cwd: string; env?: Record<string, string>; unset?: string[]; bin?: Record<string, string> }): Promise<Sandbox> {
  if (process.getuid?.() !== 0) throw new Error('the documentation examples run in network and mount namespaces of their own: run the tests as root (CI does)');
  const links = Object.entries(opts.bin ?? {})
    .map(([name, target]) => `ln -s '${target}' /tmp/.doc-bin/${name}`)
    .join(' && ');
  const init = `ip link set lo up && mount -t tmpfs -o mode=1777 tmpfs /tmp && mkdir /tmp/.doc-bin${links ? ` && ${links}` : ''} && echo ready && exec sleep 2147483647`;
  const holder = spawn('unshare', ['--pid', '--fork', '--mount-proc', '--net', '--mount', '--propagation', 'private', 'sh', '-c', init], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  holder.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    holder.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    holder.once('exit', (code) => reject(new Error(`the sandbox did not start (exit ${code}): ${err}`)));
  });
  // the namespace's PID 1 is unshare's only child (--fork)
  const inner = Number(readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
  if (!(inner > 0)) throw new Error('cannot find the sandbox PID 1');
  const baseEnv: NodeJS.ProcessEnv = { ...process.env, ...opts.env, PATH: `/tmp/.doc-bin:${process.env.PATH ?? '/usr/bin:/bin'}` };
  for (const name of opts.unset ?? []) delete baseEnv[name];
  const children = new Set<ChildProcess>();

  const start = (script: string, o: { cwd?: string; env?: Record<string, string> } = {}) => {
    const body = `cd '${o.cwd ?? opts.cwd}'\nset -euo pipefail\n${script}\n`;
    const child = spawn('nsenter', ['-t', String(inner), '--net', '--mount', '--pid', '--', 'bash', '-c', body], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...baseEnv, ...o.env } });
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };

  return {
    run(script, o = {}) {
      const child = start(script, o);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      return new Promise((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 120_000);
        // 'exit', not 'close': a job the script left running (`… &`) keeps the pipes open
        child.once('exit', (code) => {
          clearTimeout(timer);
          setImmediate(() => resolve({ code, stdout, stderr }));
        });
      });
    },
    background(script, ready, o = {}) {
      const child = start(script, o);
      let out = '';
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not ready within ${(o.timeoutMs ?? 60_000) / 1000} s (waiting for ${ready}):\n${out}`)), o.timeoutMs ?? 60_000);
        const see = (d: Buffer) => {
          out += d.toString();
          if (ready.test(out)) {
            clearTimeout(timer);
            resolve({ output: () => out });
          }
        };
        child.stdout!.on('data', see);
        child.stderr!.on('data', see);
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`exited ${code} before it was ready (waiting for ${ready}):\n${out}`));
        });
      });
    },
    async close() {
      // PID 1 of the namespace: when it dies the kernel kills everything else in it
      try {
        process.kill(inner, 'SIGKILL');
      } catch {
        // already gone
      }
      await new Promise<void>((resolve) => (holder.exitCode !== null ? resolve() : holder.once('exit', () => resolve())));
      await Promise.all([...children].map((c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())))));
    },
  };
}
