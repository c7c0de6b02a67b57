// Small fakes implementing the agent's ports, for unit tests of pure orchestration logic (the daemon loop).
// Real adapters are tested against real brokers, servers and files elsewhere.

import type { Notification, Registration, Request, Response } from '../../protocol/messages.js';
import { FotaError } from '../../agent/core/errors.js';
import type {
  BootStatus,
  Clock,
  DeviceInfoSource,
  DownloadHooks,
  Downloader,
  Logger,
  PackageInfo,
  PlatformAdapter,
  ResumeToken,
  SlotName,
  SlotWriter,
  Store,
  Transport,
  TransportHandlers,
} from '../../agent/core/ports.js';

export class MemoryStore implements Store<unknown> {
  saved: unknown[] = [];
  value: unknown;
  readonly where = '/var/lib/fota-agent/state.json';
  /** when set, save() throws it, as a full or read-only disk does; saveFailure() too once the reserve is used up */
  fail: Error | undefined;
  /** FileStore's reserve: lets one saveFailure() through while `fail` is set */
  reserve = false;
  async load() {
    return this.value === undefined ? undefined : structuredClone(this.value);
  }
  async save(v: unknown) {
    if (this.fail) throw this.fail;
    this.keep(v);
  }
  async saveFailure(v: unknown) {
    if (this.fail && !this.reserve) throw this.fail;
    if (this.fail) this.reserve = false;
    this.keep(v);
  }
  private keep(v: unknown) {
    this.value = structuredClone(v);
    this.saved.push(this.value);
  }
}

/** An fs error as node:fs rejects with it. */
export function fsError(code: 'ENOSPC' | 'EROFS', path = '/var/lib/fota-agent/state.json.tmp'): Error {
  const text = code === 'ENOSPC' ? 'no space left on device' : 'read-only file system';
  return Object.assign(new Error(`${code}: ${text}, open '${path}'`), { code });
}

export class FakeClock implements Clock {
  t = 1_700_000_000_000;
  /** the monotonic reading; tests move `t` (the wall clock) and `m` independently */
  m = 0;
  now() {
    return this.t;
  }
  monotonic() {
    return this.m;
  }
  /** real timers (the daemon's own delays are short in tests), cancellable like the system clock */
  sleep(ms: number, signal?: AbortSignal) {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
      const onAbort = () => {
        clearTimeout(timer);
        reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export class FakeTransport implements Transport {
  handlers!: TransportHandlers;
  connected = false;
  responses: Response[] = [];
  notifications: Notification[] = [];
  registrations: Registration[] = [];
  async start(h: TransportHandlers) {
    this.handlers = h;
  }
  connect() {
    this.connected = true;
    this.handlers.connected();
  }
  send(req: Request) {
    this.handlers.request(req);
  }
  respond(r: Response) {
    this.responses.push(r);
  }
  notify(n: Notification) {
    this.notifications.push(n);
  }
  register(r: Registration) {
    this.registrations.push(r);
  }
  async flush() {}
  async stop() {
    this.connected = false;
  }
  /** waits until a response with `id` arrived */
  async response(id: string): Promise<Response> {
    for (let i = 0; i < 500; i++) {
      const r = this.responses.find((x) => x.id === id);
      if (r) return r;
      await new Promise((res) => setTimeout(res, 2));
    }
    throw new Error(`no response to ${id}`);
  }
}

/** A-B device in memory with U-Boot-like semantics; `bootNext()` simulates the bootloader. */
export class FakePlatform implements PlatformAdapter {
  readonly name = 'fake';
  env = { bootPart: 'A' as SlotName, upgrade: false, bootcount: 0, bootlimit: 3 };
  booted: SlotName = 'A';
  versions: Record<SlotName, string> = { A: '1.0.0', B: '' };
  slots: Record<SlotName, number[]> = { A: [], B: [] };
  calls: string[] = [];
  reboots = 0;
  failActivate = false;
  failCommit = false;
  async bootStatus(): Promise<BootStatus> {
    const trial = this.env.upgrade && this.env.bootPart === this.booted;
    const pending = this.env.upgrade && this.env.bootPart !== this.booted ? this.env.bootPart : null;
    return { booted: this.booted, trial, pending, firmwareVersion: this.versions[this.booted] };
  }
  async inactiveSlotCapacity() {
    return 1 << 20;
  }
  private inactive(): SlotName {
    return this.booted === 'A' ? 'B' : 'A';
  }
  async openInactiveSlot(opts: { size: number; offset?: number }): Promise<SlotWriter> {
    this.calls.push('open');
    if (opts.size > 1 << 20) throw new FotaError('no-space', 'too big');
    const slot = this.inactive();
    let position = opts.offset ?? 0;
    const data = this.slots[slot];
    return {
      get position() {
        return position;
      },
      write: async (c) => {
        for (const b of c) data[position++] = b;
      },
      sync: async () => {},
      finish: async () => {},
      abort: async () => {},
    };
  }
  async *readInactiveSlot(length: number) {
    yield Uint8Array.from(this.slots[this.inactive()].slice(0, length));
  }
  async activateInactiveSlot() {
    this.calls.push('activate');
    if (this.failActivate) throw new FotaError('activation-failed', 'env write failed');
    this.env = { ...this.env, bootPart: this.inactive(), upgrade: true, bootcount: 0 };
  }
  async commitBootedSlot() {
    this.calls.push('commit');
    if (this.failCommit) throw new FotaError('commit-failed', 'env write failed');
    this.env = { ...this.env, bootPart: this.booted, upgrade: false, bootcount: 0 };
  }
  /** as planRevert (platform/uboot/ab-scheme.ts): a trial uses up its boots; an armed slot is disarmed */
  async revertTrial() {
    this.calls.push('revert');
    const { trial, pending } = await this.bootStatus();
    if (trial) this.env = { ...this.env, bootcount: this.env.bootlimit };
    else if (pending) this.env = { ...this.env, bootPart: this.booted, upgrade: false, bootcount: 0 };
  }
  async reboot() {
    this.calls.push('reboot');
    this.reboots++;
  }
  async factoryImage() {
    return undefined;
  }
  /** What U-Boot does on power-up (qemu-hil.md boot logic). */
  bootNext(): void {
    if (this.env.upgrade) {
      this.env.bootcount++;
      if (this.env.bootcount > this.env.bootlimit) this.env = { ...this.env, bootPart: this.env.bootPart === 'A' ? 'B' : 'A', upgrade: false, bootcount: 0 };
    }
    this.booted = this.env.bootPart;
  }
}

type Plan = (hooks: DownloadHooks, req: { uri: string; resume?: ResumeToken }) => Promise<PackageInfo>;

export class FakeDownloader implements Downloader {
  requests: { uri: string; resume?: ResumeToken }[] = [];
  plan: Plan = async () => ({ name: 'acme', version: '3.0.0', payloadSize: 10, sha256: '00' });
  download(req: { uri: string; resume?: ResumeToken }, hooks: DownloadHooks) {
    this.requests.push(req);
    return this.plan(hooks, req);
  }
}

export const fakeDevice: DeviceInfoSource = {
  snapshot: () => ({ manufacturer: 'acme', model: 'm1', serial: 's1', hardwareVersion: 'r1', deviceType: 'fota-sim', storageFreeKB: 1000, storageTotalKB: 2000 }),
  refresh: async () => {},
};

export function memoryLogger(): Logger & { lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return {
    lines,
    info: (msg, f) => lines.push({ level: 'info', msg, ...f }),
    warn: (msg, f) => lines.push({ level: 'warn', msg, ...f }),
    error: (msg, f) => lines.push({ level: 'error', msg, ...f }),
    transition: (r) => lines.push({ msg: 'transition', ...r }),
  };
}

export async function until(cond: () => boolean, what = 'condition', ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
