// FwToolsBootEnv: the U-Boot environment through the board's own fw_printenv / fw_setenv (libubootenv), run with
// execFile (never a shell). Several variables go in ONE write with `fw_setenv -s FILE`, whose lines must be
// `name=value` for libubootenv 0.3.2 (the old U-Boot tool's `name value` form is silently ignored there).

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BootEnvError, checkVarName, type BootEnv } from './boot-env.js';

export interface FwToolsOptions {
  /** fw_env.config path passed with -c (the tools' default, /etc/fw_env.config, when omitted) */
  config?: string;
  /** tool paths (default: looked up on PATH) */
  fwPrintenv?: string;
  fwSetenv?: string;
  /** per-invocation timeout in ms (default 10 s) */
  timeoutMs?: number;
  /** a write this soon after a successful read, with nothing between them, skips its own check (default 1000 ms) */
  freshReadMs?: number;
}

/** libubootenv 0.3.2 reads -s scripts with a 1024-byte fgets(): a longer line is cut and its tail dropped. */
const MAX_SCRIPT_LINE = 1000;

interface Run {
  stdout: string;
  stderr: string;
}

export class FwToolsBootEnv implements BootEnv {
  private queue: Promise<unknown> = Promise.resolve();
  /** when the queue's last job was a read that succeeded: its end (performance.now()) */
  private readOkAt: number | undefined;

  constructor(private readonly opts: FwToolsOptions = {}) {}

  read(): Promise<Record<string, string>> {
    return this.serial(async () => {
      const vars = parsePrintenv((await this.run(this.opts.fwPrintenv ?? 'fw_printenv', [])).stdout);
      this.readOkAt = performance.now();
      return vars;
    });
  }

  write(vars: Record<string, string | null>): Promise<void> {
    return this.serial(async (readOkAt) => {
      const fresh = readOkAt !== undefined && performance.now() - readOkAt < (this.opts.freshReadMs ?? 1000);
      const lines: string[] = [];
      for (const [name, value] of Object.entries(vars)) {
        checkVarName(name);
        const v = value ?? '';
        if (/[\n\r\0]/.test(v)) throw new BootEnvError('invalid', `the value of ${name} contains a line break or NUL, which fw_setenv -s cannot carry`);
        const line = `${name}=${v}`; // "name=" deletes the variable
        if (Buffer.byteLength(line) > MAX_SCRIPT_LINE) throw new BootEnvError('invalid', `${name}=... is longer than ${MAX_SCRIPT_LINE} bytes, too long for fw_setenv -s`);
        lines.push(line);
      }
      if (lines.length === 0) return;
      // fw_setenv silently starts from the default environment when the stored one is corrupted: check first, unless
      // the read just before this write was that check (the platform reads, decides and writes: it saves one run of
      // fw_printenv in two of each update's writes)
      if (!fresh) await this.run(this.opts.fwPrintenv ?? 'fw_printenv', []);
      const dir = await mkdtemp(join(tmpdir(), 'fota-fwenv-'));
      try {
        const script = join(dir, 'vars');
        await writeFile(script, `${lines.join('\n')}\n`, { mode: 0o600 });
        await this.run(this.opts.fwSetenv ?? 'fw_setenv', ['-s', script]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }

  private run(tool: string, args: string[]): Promise<Run> {
    const argv = this.opts.config ? ['-c', this.opts.config, ...args] : args;
    return new Promise((resolve, reject) => {
      execFile(tool, argv, { timeout: this.opts.timeoutMs ?? 10_000, maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
        // with a default-environment file installed the tools succeed on a corrupted env, printing this warning
        if (!err && /Cannot read environment/i.test(stderr)) return reject(new BootEnvError('bad-crc', `${tool}: the stored U-Boot environment is corrupted (bad CRC); restore it before updating`));
        if (!err) return resolve({ stdout, stderr });
        const detail = stderr.trim().split('\n').filter(Boolean).join('; ') || err.message;
        const code = (err as { code?: unknown }).code;
        if (code === 'ENOENT') return reject(new BootEnvError('io', `${tool} not found: install libubootenv-tool (or set the tool path)`, { cause: err }));
        // libubootenv reports a bad CRC as "Cannot read environment, using default" and fails without a default file
        const badCrc = /Cannot read environment/i.test(stderr);
        reject(new BootEnvError(badCrc ? 'bad-crc' : 'io', `${tool} ${argv.join(' ')} failed: ${detail}`, { cause: err }));
      });
    });
  }

  /** Runs `job` after the queued ones, handing it the end of the read just before it (when that one succeeded). */
  private serial<T>(job: (readOkAt: number | undefined) => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      // whatever a job does, only a read that succeeds marks the environment as just checked
      const readOkAt = this.readOkAt;
      this.readOkAt = undefined;
      return job(readOkAt);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * Parses fw_printenv output ("name=value" per line). A line without a valid "name=" prefix continues the
 * previous value (a value holding a line break), joined with "\n".
 */
export function parsePrintenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let last: string | undefined;
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    const m = /^([^=\s]+)=(.*)$/s.exec(line);
    if (m) {
      last = m[1]!;
      out[last] = m[2]!;
    } else if (last !== undefined) {
      out[last] += `\n${line}`;
    }
  }
  return out;
}
