// One virtual board: QEMU (TCG, no KVM) running Debian's U-Boot on its own copy of the cached disk, the serial
// console captured, SSH forwarded from a free loopback port, and restricted user networking: the guest reaches
// nothing but the host loopback ports listed in `forwards` (as 10.0.2.2:guestPort). Power cut = SIGKILL.
//
// INVARIANTS: at most one QEMU process per board; stop() kills it and waits for its exit (also after a failed
// test); every wait has a deadline and names what it waited for, with the console's tail.
//
// The firmware stall guard: once in the CI runs so far (2026-11-30), a freshly started QEMU stopped for good inside
// U-Boot's own early init (after `Loading Environment from nowhere... OK`, before video and before our boot
// script or any disk read), spinning a host core for 600 s. It did not happen again in 60 cold starts here, idle
// or loaded. That is the emulated firmware, not the product, so the harness acts as the watchdog a board's boot ROM
// arms: U-Boot's banner not followed by our script's `fota: booting slot` within `firmwareStallMs` (a boot takes
// 0.2-3 s) is a power cycle, said on the console log and stderr and counted (`firmwareStalls`, in each test's
// [hil] line). At most MAX_FIRMWARE_CYCLES per board: after that the waits time out and name what they waited for.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { copyFile, constants, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { hostFwEnvConfig, type HilImage } from '../image/layout.js';

const run = promisify(execFile);
const PIPE = new URL('./tcp-pipe.mjs', import.meta.url).pathname;
/** USER_HZ: the unit of /proc/PID/stat's times (100 on every Linux architecture the tests run on) */
const CLOCK_TICKS = 100;

/** 10.0.2.2:guestPort in the guest → 127.0.0.1:hostPort on the host. */
export interface Forward {
  guestPort: number;
  hostPort: number;
}

export interface BoardOptions {
  image: HilImage;
  /** a folder of the test's own (mkdtemp): the disk copy, the console log, fw_env.config */
  dir: string;
  sshPort: number;
  forwards: Forward[];
  memMiB?: number;
  /** the firmware stall guard's limit (see the header); 120 s by default */
  firmwareStallMs?: number;
}

const UBOOT_BANNER = /(?:^|\n)U-Boot \d{4}\./g;
const BOOTING = /fota: booting slot [AB]/g;
const MAX_FIRMWARE_CYCLES = 3;

export interface Boot {
  slot: 'A' | 'B';
  /** index into the console text where this boot's U-Boot line starts */
  at: number;
}

export const GUEST_HOST = '10.0.2.2';

export class QemuBoard {
  readonly disk: string;
  readonly fwEnvConfig: string;
  /** the serial console, also kept as a file for a failed run */
  readonly consoleLog: string;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private text = '';
  private waiters = new Set<() => void>();
  /** QEMU CPU seconds of earlier power-ons, and the latest sample of the running one (sampled each second: a
   * process that has exited has no /proc entry left to read) */
  private cpuDone = 0;
  private cpuLast = 0;
  /** power cycles the firmware stall guard made (see the header) */
  firmwareStalls = 0;
  private stallTimer: NodeJS.Timeout | undefined;
  /** set by the guard between its SIGKILL and QEMU's exit: the exit powers the board on again */
  private cycling = false;

  private constructor(readonly opts: BoardOptions) {
    this.disk = join(opts.dir, 'disk.img');
    this.fwEnvConfig = join(opts.dir, 'fw_env.config');
    this.consoleLog = join(opts.dir, 'console.log');
  }

  /** A board with a fresh copy of the image's disk (a reflink or a sparse copy), powered off. */
  static async create(opts: BoardOptions): Promise<QemuBoard> {
    const b = new QemuBoard(opts);
    await run('cp', ['--sparse=always', opts.image.disk, b.disk]).catch(() => copyFile(opts.image.disk, b.disk, constants.COPYFILE_FICLONE));
    await writeFile(b.fwEnvConfig, hostFwEnvConfig(b.disk));
    return b;
  }

  get console(): string {
    return this.text;
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  /** Every boot U-Boot's script announced so far (`fota: booting slot X`). */
  boots(from = 0): Boot[] {
    const out: Boot[] = [];
    const re = /fota: booting slot ([AB])/g;
    re.lastIndex = from;
    for (let m = re.exec(this.text); m; m = re.exec(this.text)) out.push({ slot: m[1] as 'A' | 'B', at: m.index });
    return out;
  }

  powerOn(): void {
    if (this.proc) throw new Error('the board is already running');
    const { image, sshPort, forwards } = this.opts;
    // slirp refuses a guestfwd on its own host address, so it moves to .254; commas in option values are doubled
    const fwd = forwards.map((f) => `,guestfwd=tcp:${GUEST_HOST}:${f.guestPort}-cmd:${process.execPath.replaceAll(',', ',,')} ${PIPE.replaceAll(',', ',,')} ${f.hostPort}`).join('');
    const args = [
      '-machine', 'pc', '-m', String(this.opts.memMiB ?? 512), '-smp', '2',
      '-bios', image.uboot,
      // cache=unsafe: the guest's flushes are not passed to the host disk. A power cut here is SIGKILL to QEMU,
      // which keeps every write QEMU already made (the host's page cache survives it) and loses what the guest
      // had not written yet, exactly as without; only a crash of the host itself would lose more
      '-drive', `file=${this.disk.replaceAll(',', ',,')},format=raw,if=virtio,cache=unsafe`,
      '-nic', `user,model=virtio-net-pci,restrict=on,host=10.0.2.254,hostfwd=tcp:127.0.0.1:${sshPort}-:22${fwd}`,
      // the hardware watchdog systemd pets (RuntimeWatchdogSec in the image): a hung system resets
      '-device', 'i6300esb', '-watchdog-action', 'reset',
      '-display', 'none', '-serial', 'stdio', '-monitor', 'none',
    ];
    const p = spawn('qemu-system-x86_64', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = p;
    this.cpuLast = 0;
    const sampler = setInterval(() => this.readCpu(), 1000);
    sampler.unref();
    const onData = (d: Buffer) => {
      const chunk = d.toString('latin1').replaceAll('\r', '');
      const scanFrom = Math.max(0, this.text.length - 40);
      this.text += chunk;
      appendFileSync(this.consoleLog, chunk);
      this.guardFirmware(scanFrom);
      for (const w of this.waiters) w();
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    this.exited = new Promise((resolve) => p.on('exit', () => {
      clearInterval(sampler);
      this.disarmGuard();
      this.cpuDone += this.cpuLast;
      this.cpuLast = 0;
      this.proc = undefined;
      if (this.cycling) {
        // the guard's power cycle: on again before any waiter sees the board off
        this.cycling = false;
        this.powerOn();
      }
      for (const w of this.waiters) w();
      resolve();
    }));
  }

  /** Arms the stall timer at a U-Boot banner with no boot after it; disarms it at `fota: booting slot`. */
  private guardFirmware(scanFrom: number): void {
    let last: 'banner' | 'boot' | undefined;
    let lastAt = -1;
    for (const [re, kind] of [[UBOOT_BANNER, 'banner'], [BOOTING, 'boot']] as const) {
      re.lastIndex = scanFrom;
      for (let m = re.exec(this.text); m; m = re.exec(this.text)) {
        if (m.index > lastAt) {
          lastAt = m.index;
          last = kind;
        }
      }
    }
    if (last === 'boot') this.disarmGuard();
    if (last !== 'banner' || this.stallTimer || this.firmwareStalls >= MAX_FIRMWARE_CYCLES) return;
    const ms = this.opts.firmwareStallMs ?? 120_000;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      if (!this.proc) return;
      this.firmwareStalls++;
      const line = this.text.trimEnd().split('\n').at(-1) ?? '';
      const say = `\n[hil harness] U-Boot started ${ms / 1000} s ago and has not reached the boot script (stuck after: ${JSON.stringify(line)}); ` +
        `power-cycling the board, as a boot-ROM watchdog would (firmware stall ${this.firmwareStalls} of at most ${MAX_FIRMWARE_CYCLES})\n`;
      appendFileSync(this.consoleLog, say);
      this.text += say;
      process.stderr.write(say);
      this.cycling = true;
      this.proc.kill('SIGKILL');
    }, ms);
    this.stallTimer.unref();
  }

  private disarmGuard(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  /** Waits until `re` matches the console after index `from`; returns the match. */
  async waitConsole(re: RegExp, timeoutMs: number, from = 0, what = `${re}`): Promise<RegExpExecArray> {
    const flags = re.flags.includes('g') ? re.flags : `${re.flags}g`;
    const g = new RegExp(re.source, flags);
    return new Promise((resolve, reject) => {
      const check = () => {
        g.lastIndex = from;
        const m = g.exec(this.text);
        if (m) return done(() => resolve(m));
        if (!this.proc) return done(() => reject(new Error(`board powered off while waiting for ${what}\n${this.tail()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.tail()}`))), timeoutMs);
      const done = (f: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        f();
      };
      this.waiters.add(check);
      check();
    });
  }

  /**
   * CPU seconds QEMU has used over this board's life, every power-on (all its threads, /proc/PID/stat utime +
   * stime): the guest's work, which depends far less than wall time on how loaded the host is.
   */
  cpuSeconds(): number {
    return this.cpuDone + (this.proc ? this.readCpu() : 0);
  }

  private readCpu(): number {
    const pid = this.proc?.pid;
    if (pid === undefined) return this.cpuLast;
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      this.cpuLast = (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
    } catch {
      // exited between the check and the read: the last sample stands
    }
    return this.cpuLast;
  }

  tail(n = 3000): string {
    return `--- console (last ${n} chars) ---\n${this.text.slice(-n)}`;
  }

  /**
   * Runs `cmd` as root in the guest (argv is joined by the remote shell, as ssh always does: no input in it). The
   * calls share one SSH connection (ControlMaster): a new connection costs the guest a key exchange and an sshd
   * re-exec, seconds of TCG each time.
   */
  async ssh(cmd: string, timeoutMs = 60_000): Promise<string> {
    const { stdout } = await run('ssh', [...this.sshArgs(), 'root@127.0.0.1', cmd], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  }

  /** ssh's options for this board, with the shared connection (ControlPersist ends it 30 s after its last use). */
  sshArgs(): string[] {
    return [...sshOptions(this.opts.image.key, this.opts.sshPort), '-o', 'ControlMaster=auto', '-o', `ControlPath=${this.controlPath}`, '-o', 'ControlPersist=30'];
  }

  private get controlPath(): string {
    return join(this.opts.dir, 'ssh-control');
  }

  /** Ends the shared SSH connection (before a reboot or a power cut, so no command goes to the old system's). */
  async dropSsh(): Promise<void> {
    await run('ssh', ['-o', `ControlPath=${this.controlPath}`, '-O', 'exit', 'root@127.0.0.1'], { timeout: 10_000 }).catch(() => undefined);
  }

  /**
   * Waits for a boot that starts after console index `from` to reach the serial login prompt (multi-user), then
   * for SSH. Returns the seconds it took.
   */
  async waitBooted(from: number, timeoutMs: number): Promise<number> {
    const t0 = Date.now();
    const boot = await this.waitConsole(/fota: booting slot [AB]/, timeoutMs, from, 'U-Boot to start a boot');
    await this.dropSsh();
    await this.waitConsole(/ login: /, timeoutMs - (Date.now() - t0), boot.index, 'the login prompt (multi-user)');
    await this.waitSsh(Math.max(10_000, timeoutMs - (Date.now() - t0)));
    const s = (Date.now() - t0) / 1000;
    appendFileSync(this.consoleLog, `\n[hil harness] booted in ${s.toFixed(1)} s (QEMU's CPU time so far: ${this.cpuSeconds().toFixed(1)} s)\n`);
    return s;
  }

  /** Waits until SSH answers (sshd is up). */
  async waitSsh(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      if (!this.proc) throw new Error(`board powered off while waiting for SSH\n${this.tail()}`);
      try {
        await this.ssh('true', 15_000);
        return;
      } catch (e) {
        last = e;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    throw new Error(`SSH did not answer within ${timeoutMs} ms: ${(last as Error)?.message}\n${this.tail()}`);
  }

  /** The U-Boot environment read from the host with the real fw_printenv (the board may be running). */
  async env(): Promise<Record<string, string>> {
    const { stdout } = await run('fw_printenv', ['-c', this.fwEnvConfig]);
    const vars: Record<string, string> = {};
    for (const line of stdout.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) vars[line.slice(0, i)] = line.slice(i + 1);
    }
    return vars;
  }

  /** Power cut: SIGKILL to QEMU (what the guest had not written to its disk is lost). */
  async powerCut(): Promise<void> {
    this.cycling = false;
    this.disarmGuard();
    this.proc?.kill('SIGKILL');
    await this.exited;
    await this.dropSsh();
  }

  /** Clean shutdown through systemd (ACPI power-off); a power cut if it does not end within `timeoutMs`. */
  async shutdown(timeoutMs = 60_000): Promise<void> {
    if (!this.proc) return;
    await this.ssh('systemctl poweroff', 15_000).catch(() => undefined);
    const t = setTimeout(() => this.proc?.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(t);
    await this.dropSsh();
  }

  async stop(): Promise<void> {
    await this.powerCut();
  }
}

export function sshOptions(key: string, port: number): string[] {
  return [
    '-i', key, '-p', String(port), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10', '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3', '-o', 'IdentitiesOnly=yes',
  ];
}
