// A real board for the hil suite (FOTA_HIL_TARGET=ssh://USER@HOST[:PORT]): reached over SSH only, with the
// caller's ssh configuration and keys. There is no power switch and no serial console: the environment is read
// with the board's own fw_printenv, the booted slot from /proc/cmdline.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SshTarget {
  user: string;
  host: string;
  port: number;
}

/** Parses ssh://USER@HOST[:PORT] (USER defaults to root). Throws a message saying the expected form. */
export function parseTarget(url: string): SshTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`FOTA_HIL_TARGET=${url}: expected ssh://USER@HOST[:PORT], e.g. ssh://root@pi.local`);
  }
  if (u.protocol !== 'ssh:' || u.hostname === '') throw new Error(`FOTA_HIL_TARGET=${url}: expected ssh://USER@HOST[:PORT], e.g. ssh://root@pi.local`);
  return { user: decodeURIComponent(u.username) || 'root', host: u.hostname, port: u.port ? Number(u.port) : 22 };
}

export class SshBoard {
  constructor(readonly target: SshTarget) {}

  private args(): string[] {
    return ['-p', String(this.target.port), '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3', `${this.target.user}@${this.target.host}`];
  }

  /** Runs `cmd` on the board (through sudo when the login user is not root). */
  async ssh(cmd: string, timeoutMs = 60_000): Promise<string> {
    const remote = this.target.user === 'root' ? cmd : `sudo -n sh -c '${cmd.replaceAll("'", "'\\''")}'`;
    const { stdout } = await run('ssh', [...this.args(), remote], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  }

  async waitSsh(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.ssh('true', 15_000);
        return;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`${this.target.host} did not answer over SSH within ${timeoutMs} ms: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }

  /** The U-Boot environment, read on the board with its fw_printenv. */
  async env(): Promise<Record<string, string>> {
    const vars: Record<string, string> = {};
    for (const line of (await this.ssh('fw_printenv')).split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) vars[line.slice(0, i)] = line.slice(i + 1);
    }
    return vars;
  }
}
