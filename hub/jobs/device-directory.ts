// What the hub knows about each device from the wire: registration (regId, agent version), presence, the last
// Object 5 values seen in a notification. Job drivers wait on it for "something happened to device X".
// Bounded: whatever devices (or impostors) publish, it holds at most `maxDevices` entries and small ones.
//
// INVARIANTS
// - A waiter is woken at most once and always removed (on event, timeout or abort): no leaked timers or listeners.
// - `events` counts every event of a device, so a caller that was busy (e.g. awaiting an answer) when one came can
//   tell it missed it (waitForEvent's `since`) instead of sleeping through it: no lost wake-ups.
// - A pinned device (a job's driver follows it) or one with waiters is never evicted. Others go least recently
//   heard first when the directory is full (offline ones before online ones); sweep() forgets never-registered
//   entries unheard for UNKNOWN_TTL_MS and registrations past their lifetime (LwM2M: the server removes a
//   registration not updated within its lifetime) unless presence says the device is online. A new device that
//   finds no room is dropped, and that is logged.
// - Times are the hub's: `registeredAt` is when the hub heard the registration (wall clock, for display), ages
//   use the monotonic clock. A device's own clock is never trusted.

import type { JsonValue, Notification, Presence, Registration } from '../../protocol/messages.js';
import type { DeviceSummary } from './job-service-api.js';

export const DEFAULT_MAX_DEVICES = 100_000;
/** a device seen only through presence or a request, never registered, is forgotten after this long unheard */
export const UNKNOWN_TTL_MS = 60_000;
/** observations kept per device (the hub observes /5/0 once per registration; more is an impostor's noise) */
const MAX_OBSERVED = 4;
/** device-supplied strings are cut to this length before they are kept */
const MAX_ID_CHARS = 128;
/** how far eviction looks for an offline candidate before it takes an online one */
const EVICTION_SCAN = 1000;

export interface DeviceView {
  deviceId: string;
  online: boolean | null;
  regId: string;
  agentVersion: string;
  /** when the hub heard the last Register/Update (hub wall clock, ms), null when none */
  registeredAt: number | null;
  /** number of events (registration, presence, notification) seen so far */
  events: number;
  /** last value of an observed path, by observation token (the id of the observe request) */
  observed: Map<string, { path: string; value: JsonValue; seq: number }>;
}

interface Entry extends DeviceView {
  /** monotonic ms of the last message heard from the device */
  heard: number;
  /** the registration's lifetime, ms (the device's `lt`, kept within 1 min … 1 day) */
  lifetimeMs: number;
  pins: number;
}

export interface DeviceDirectoryOptions {
  maxDevices?: number;
  /** monotonic clock, ms (default performance.now) */
  now?: () => number;
  /** wall clock for registeredAt (default Date.now) */
  wallNow?: () => number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

type Waiter = () => void;

/** The first `n` characters as a string of its own (a V8 slice would keep the whole device-sent string alive). */
function own(text: string, n: number): string {
  return text.length <= n ? text : Buffer.from(text.slice(0, n), 'utf8').toString('utf8');
}

export class DeviceDirectory {
  /** in order of the last message heard (re-inserted on each): the first entries are the least recently heard */
  private readonly devices = new Map<string, Entry>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly max: number;
  private readonly now: () => number;
  private readonly wallNow: () => number;
  private dropped = 0;
  private lastDropLog = -Infinity;

  constructor(private readonly opts: DeviceDirectoryOptions = {}) {
    this.max = Math.max(1, opts.maxDevices ?? DEFAULT_MAX_DEVICES);
    this.now = opts.now ?? (() => performance.now());
    this.wallNow = opts.wallNow ?? Date.now;
  }

  get size(): number {
    return this.devices.size;
  }

  /** The device's view, created when unknown (a driver asks about a device it was told to work on). */
  get(deviceId: string): DeviceView {
    return this.devices.get(deviceId) ?? this.add(deviceId, true)!;
  }

  /** Keeps the device while a job's driver follows it; call the returned function when it is done. */
  pin(deviceId: string): () => void {
    const d = this.get(deviceId) as Entry;
    d.pins++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      d.pins--;
    };
  }

  /** The entry of a device that just sent something, made room for when new; undefined when there is none. */
  private heard(deviceId: string): Entry | undefined {
    const d = this.devices.get(deviceId);
    if (!d) return this.add(deviceId, false);
    d.heard = this.now();
    this.devices.delete(deviceId); // re-insert: the map stays in order of the last message heard
    this.devices.set(deviceId, d);
    return d;
  }

  private add(deviceId: string, force: boolean): Entry | undefined {
    if (this.devices.size >= this.max && !this.evictOne() && !force) {
      this.dropped++;
      if (this.now() - this.lastDropLog > 60_000) {
        this.lastDropLog = this.now();
        this.opts.log?.('device directory full: messages of new devices are dropped', { maxDevices: this.max, droppedSoFar: this.dropped });
      }
      return undefined;
    }
    const d: Entry = { deviceId, online: null, regId: '', agentVersion: '', registeredAt: null, events: 0, observed: new Map(), heard: this.now(), lifetimeMs: UNKNOWN_TTL_MS, pins: 0 };
    this.devices.set(deviceId, d);
    return d;
  }

  private evictable(d: Entry): boolean {
    return d.pins === 0 && !this.waiters.has(d.deviceId);
  }

  /** Evicts the least recently heard evictable device, offline first. False when none may go. */
  private evictOne(): boolean {
    let online: Entry | undefined;
    let scanned = 0;
    for (const d of this.devices.values()) {
      if (!this.evictable(d)) continue;
      if (d.online !== true) return this.devices.delete(d.deviceId);
      online ??= d;
      if (++scanned >= EVICTION_SCAN) break;
    }
    return online !== undefined && this.devices.delete(online.deviceId);
  }

  /**
   * Forgets never-registered devices unheard for UNKNOWN_TTL_MS (junk presence, requests to unknown ids) and
   * registrations unheard for longer than their lifetime (plus a minute) that presence does not say are online.
   * Returns how many went. Call it only while connected to the broker (nobody can be heard otherwise).
   */
  sweep(): number {
    const now = this.now();
    let n = 0;
    for (const d of [...this.devices.values()]) {
      if (now - d.heard < UNKNOWN_TTL_MS) break; // in order of last heard, and no lifetime is shorter: the rest is recent
      const expired = d.regId === '' || (d.online !== true && now - d.heard > d.lifetimeMs + 60_000);
      if (expired && this.evictable(d)) n += this.devices.delete(d.deviceId) ? 1 : 0;
    }
    return n;
  }

  onRegistration(ep: string, reg: Registration): void {
    const d = this.heard(ep);
    if (!d) return;
    const regId = own(reg.regId, MAX_ID_CHARS);
    if (regId !== d.regId) d.observed.clear(); // a new registration drops the device's observations
    d.regId = regId;
    d.agentVersion = own(reg.agent.version, 64);
    d.lifetimeMs = Math.min(86_400, Math.max(60, Number.isFinite(reg.lt) ? reg.lt : 0)) * 1000;
    d.registeredAt = this.wallNow();
    this.wake(ep);
  }

  onPresence(ep: string, p: Presence): void {
    const d = this.heard(ep);
    if (!d) return;
    d.online = p.online;
    this.wake(ep);
  }

  onNotification(ep: string, n: Notification): void {
    const d = this.devices.get(ep);
    // only a device a driver follows needs its notifications: others' are not kept
    if (!d || d.pins === 0) return;
    this.heard(ep);
    if (!d.observed.has(n.token) && d.observed.size >= MAX_OBSERVED) d.observed.delete(d.observed.keys().next().value as string);
    d.observed.set(n.token, { path: n.path, value: n.value, seq: n.seq });
    this.wake(ep);
  }

  /** The hub lost its broker: nobody's presence is known any more (retained presence tells again after a reconnect). */
  forgetPresence(): void {
    for (const d of this.devices.values()) d.online = null;
  }

  private wake(ep: string): void {
    const d = this.devices.get(ep);
    if (d) d.events += 1;
    const set = this.waiters.get(ep);
    if (!set) return;
    this.waiters.delete(ep);
    for (const w of set) w();
  }

  /**
   * Resolves on the next event of `deviceId`, or after `ms`; rejects with the signal's reason when aborted.
   * With `since` (an earlier `events` count) it resolves at once when an event came after that count.
   */
  waitForEvent(deviceId: string, ms: number, signal: AbortSignal, since?: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      if (since !== undefined && this.get(deviceId).events !== since) return resolve();
      let set = this.waiters.get(deviceId);
      if (!set) this.waiters.set(deviceId, (set = new Set()));
      const drop = () => {
        set!.delete(done);
        if (set!.size === 0 && this.waiters.get(deviceId) === set) this.waiters.delete(deviceId);
      };
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        drop();
        resolve();
      };
      const onAbort = () => {
        clearTimeout(timer);
        drop();
        reject(signal.reason);
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Resolves when `deviceId` registers with another regId than `regId` (its agent restarted: requests sent to the
   * old registration will not be answered); rejects with the signal's reason when aborted.
   */
  async registrationChange(deviceId: string, regId: string, signal: AbortSignal): Promise<void> {
    while (this.get(deviceId).regId === regId) await this.waitForEvent(deviceId, 60_000, signal);
  }

  list(): DeviceSummary[] {
    return [...this.devices.values()]
      .filter((d) => d.regId !== '' || d.online !== null)
      .sort((a, b) => a.deviceId.localeCompare(b.deviceId))
      .map((d) => ({ deviceId: d.deviceId, online: d.online, agentVersion: d.agentVersion, registeredAt: d.registeredAt === null ? null : new Date(d.registeredAt).toISOString() }));
  }
}
