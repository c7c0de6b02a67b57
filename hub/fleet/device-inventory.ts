// The dashboard's view of every device the hub hears: presence, registration, firmware version and device type,
// Object 5 State and last Update Result with its reason, faults, last seen. Fed by the HubLink's events; it observes
// "/3" and "/5" once per registration (object paths: the job drivers observe "/5/0", which this never cancels).
//
// INVARIANTS
// - At most `concurrency` devices are being observed at once; a device waits in the queue at most once (a Set), so
//   the queue never holds more ids than there are entries. Nothing is asked of a device known to be offline.
// - Observations belong to one registration: a new regId, or the link coming back (notifications were lost), observes
//   again, after cancelling what an earlier hub run left on the device under the same paths (the agent keeps 64).
// - Only a notification carrying a token this inventory holds for that device changes its values.
// - At most `maxDevices` entries (least recently heard go first); device strings are cut (device-values.ts).
// - Times shown are the hub's wall clock; a device's clock is never used.

import type { Response } from '../../protocol/messages.js';
import type { Notification, Presence, Registration } from '../../protocol/messages.js';
import type { DeviceEvents } from '../hub-link.js';
import { deviceObjectView, firmwareObjectView, MAX_REASON, MAX_SHORT, type DeviceFault, type FirmwareObjectView } from './device-values.js';

export const DEFAULT_MAX_INVENTORY = 100_000;
const DEFAULT_CONCURRENCY = 16;
const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
/** how often devices whose observation failed are tried again (besides at their next registration or presence) */
const RETRY_EVERY_MS = 30_000;

/** One device as the dashboard lists it. */
export interface DeviceInfo {
  deviceId: string;
  /** null: no presence seen (or the hub has lost its broker) */
  online: boolean | null;
  agentVersion: string;
  /** when the hub heard the last Register/Update (ms, hub clock); null when none */
  registeredAt: number | null;
  /** when the hub last heard anything from the device (ms, hub clock) */
  lastSeen: number;
  /** "" until Object 3 was read */
  firmwareVersion: string;
  deviceType: string;
  model: string;
  faults: DeviceFault[];
  /** undefined until Object 5 was read */
  firmware: FirmwareObjectView | undefined;
  /** why the hub could not observe the device ("" when it could, or has not tried yet) */
  problem: string;
}

/** What the inventory needs of the broker link (HubLink has it). */
export interface InventoryLink {
  on(events: DeviceEvents): () => void;
  request(ep: string, body: { op: 'observe' | 'cancel-observe'; path: string }, timeoutMs: number): Promise<Response>;
  readonly connected: boolean;
}

export interface DeviceInventoryOptions {
  maxDevices?: number;
  concurrency?: number;
  requestTimeoutMs?: number;
  /** wall clock, ms (default Date.now) */
  now?: () => number;
  /** called once per change of a device's entry (added, values, presence, removed) */
  onChange?: (deviceId: string) => void;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

interface Entry extends DeviceInfo {
  regId: string;
  /** the registration whose observations are in place ("" = none) */
  observedRegId: string;
  devToken: string;
  fwToken: string;
}

const cut = (s: string, n: number): string => (s.length <= n ? s : Buffer.from(s.slice(0, n), 'utf8').toString('utf8'));

export class DeviceInventory {
  /** in order of the last message heard: the first entry is the least recently heard */
  private readonly entries = new Map<string, Entry>();
  private readonly queue = new Set<string>();
  private active = 0;
  private stopped = false;
  private off: (() => void) | undefined;
  private retry: NodeJS.Timeout | undefined;
  /** every device id in code-unit order; rebuilt after a device is added or removed */
  private sorted: string[] | undefined;
  private readonly max: number;
  private readonly now: () => number;

  constructor(
    private readonly link: InventoryLink,
    private readonly opts: DeviceInventoryOptions = {},
  ) {
    this.max = Math.max(1, opts.maxDevices ?? DEFAULT_MAX_INVENTORY);
    this.now = opts.now ?? Date.now;
  }

  /** Starts following the link's events. */
  start(): void {
    this.off = this.link.on({
      registration: (ep, r) => this.onRegistration(ep, r),
      presence: (ep, p) => this.onPresence(ep, p),
      notification: (ep, n) => this.onNotification(ep, n),
      link: (up) => this.onLink(up),
    });
    this.retry = setInterval(() => {
      for (const e of this.entries.values()) this.want(e);
    }, RETRY_EVERY_MS);
    this.retry.unref();
  }

  stop(): void {
    this.stopped = true;
    this.off?.();
    clearInterval(this.retry);
    this.queue.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Every device id in code-unit order (what device-query.ts pages through); cached until a device comes or goes. */
  sortedIds(): readonly string[] {
    return (this.sorted ??= [...this.entries.keys()].sort());
  }

  get(deviceId: string): DeviceInfo | undefined {
    return this.entries.get(deviceId);
  }

  /** Every entry, in no particular order. The objects are live: copy what must not change. */
  all(): IterableIterator<DeviceInfo> {
    return this.entries.values();
  }

  private changed(id: string): void {
    try {
      this.opts.onChange?.(id);
    } catch {
      // a listener's bug must not stop the inventory
    }
  }

  /** The entry of a device that just sent something (moved to the end of the order), created when new. */
  private heard(ep: string): Entry {
    let e = this.entries.get(ep);
    if (e) this.entries.delete(ep);
    else {
      if (this.entries.size >= this.max) this.evictOne();
      e = { deviceId: ep, online: null, agentVersion: '', registeredAt: null, lastSeen: 0, firmwareVersion: '', deviceType: '', model: '', faults: [], firmware: undefined, problem: '', regId: '', observedRegId: '', devToken: '', fwToken: '' };
      this.sorted = undefined;
    }
    e.lastSeen = this.now();
    this.entries.set(ep, e);
    return e;
  }

  private evictOne(): void {
    const first = this.entries.keys().next();
    if (first.done) return;
    this.entries.delete(first.value);
    this.queue.delete(first.value);
    this.sorted = undefined;
    this.changed(first.value);
  }

  private onRegistration(ep: string, reg: Registration): void {
    const e = this.heard(ep);
    e.regId = cut(reg.regId, MAX_SHORT);
    e.agentVersion = cut(reg.agent.version, MAX_SHORT);
    e.registeredAt = this.now();
    this.changed(ep);
    this.want(e);
  }

  private onPresence(ep: string, p: Presence): void {
    const e = this.heard(ep);
    e.online = p.online;
    this.changed(ep);
    this.want(e);
  }

  private onNotification(ep: string, n: Notification): void {
    const e = this.entries.get(ep);
    if (!e || (n.token !== e.devToken && n.token !== e.fwToken) || n.token === '') return;
    this.heard(ep);
    if (n.token === e.devToken) this.applyDevice(e, n.value);
    else this.applyFirmware(e, n.value);
    this.changed(ep);
  }

  private onLink(up: boolean): void {
    if (!up) {
      // while cut off, nobody's presence is known and notifications are lost: observe everyone again once back
      for (const e of this.entries.values()) {
        e.online = null;
        e.observedRegId = '';
        this.changed(e.deviceId);
      }
      return;
    }
    for (const e of this.entries.values()) this.want(e);
  }

  private applyDevice(e: Entry, value: Response['value']): void {
    const v = deviceObjectView(value);
    if (!v) return;
    e.firmwareVersion = v.firmwareVersion;
    e.deviceType = v.deviceType;
    e.model = v.model;
    e.faults = v.faults;
  }

  private applyFirmware(e: Entry, value: Response['value']): void {
    const v = firmwareObjectView(value);
    if (v) e.firmware = v;
  }

  /** Queues the device for observation when its registration is not observed yet. */
  private want(e: Entry): void {
    if (this.stopped || e.regId === '' || e.observedRegId === e.regId || e.online === false) return;
    this.queue.add(e.deviceId);
    this.pump();
  }

  private pump(): void {
    const limit = this.opts.concurrency ?? DEFAULT_CONCURRENCY;
    while (!this.stopped && this.active < limit && this.queue.size > 0 && this.link.connected) {
      const id = this.queue.values().next().value as string;
      this.queue.delete(id);
      this.active++;
      void this.observe(id).finally(() => {
        this.active--;
        this.pump();
      });
    }
  }

  /** Observes /3 and /5 of one device for its current registration. Never rejects. */
  private async observe(id: string): Promise<void> {
    const e = this.entries.get(id);
    if (!e || e.regId === '' || e.observedRegId === e.regId || e.online === false) return;
    const regId = e.regId;
    const ms = this.opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    try {
      // what an earlier hub run observed under these paths would notify tokens nobody holds: cancel it (4.04 = none)
      for (const path of ['/3', '/5']) await this.link.request(id, { op: 'cancel-observe', path }, ms);
      const dev = await this.link.request(id, { op: 'observe', path: '/3' }, ms);
      const fw = await this.link.request(id, { op: 'observe', path: '/5' }, ms);
      if (this.entries.get(id) !== e || e.regId !== regId) return; // evicted, or re-registered meanwhile: queued again
      const refused = [dev, fw].find((r) => r.code !== '2.05');
      e.problem = refused ? cut(`the device refused to be observed: ${refused.code} ${refused.reason ?? ''}`.trim(), MAX_REASON) : '';
      if (dev.code === '2.05') (e.devToken = dev.id), this.applyDevice(e, dev.value);
      if (fw.code === '2.05') (e.fwToken = fw.id), this.applyFirmware(e, fw.value);
      e.observedRegId = regId;
      this.changed(id);
    } catch (err) {
      // no answer (offline, busy) or the link dropped: the next registration update, presence or reconnect tries again
      if (this.entries.get(id) === e) {
        e.problem = cut(`no answer to observe: ${(err as Error).message}`, MAX_REASON);
        this.changed(id);
      }
    }
  }
}
