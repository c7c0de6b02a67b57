// What the hub knows about each device from the wire: registration (regId, agent version), presence, the last
// Object 5 values seen in a notification. Job drivers wait on it for "something happened to device X".
//
// INVARIANTS
// - A waiter is woken at most once and always removed (on event, timeout or abort): no leaked timers or listeners.
// - `events` counts every event of a device, so a caller that was busy (e.g. awaiting an answer) when one came can
//   tell it missed it (waitForEvent's `since`) instead of sleeping through it: no lost wake-ups.

import type { JsonValue, Notification, Presence, Registration } from '../../protocol/messages.js';
import type { DeviceSummary } from './job-service-api.js';

export interface DeviceView {
  deviceId: string;
  online: boolean | null;
  regId: string;
  agentVersion: string;
  registeredAt: number | null;
  /** number of events (registration, presence, notification) seen so far */
  events: number;
  /** last value of an observed path, by observation token (the id of the observe request) */
  observed: Map<string, { path: string; value: JsonValue; time: number; seq: number }>;
}

type Waiter = () => void;

export class DeviceDirectory {
  private readonly devices = new Map<string, DeviceView>();
  private readonly waiters = new Map<string, Set<Waiter>>();

  get(deviceId: string): DeviceView {
    let d = this.devices.get(deviceId);
    if (!d) {
      d = { deviceId, online: null, regId: '', agentVersion: '', registeredAt: null, events: 0, observed: new Map() };
      this.devices.set(deviceId, d);
    }
    return d;
  }

  onRegistration(ep: string, reg: Registration): void {
    const d = this.get(ep);
    if (reg.regId !== d.regId) d.observed.clear(); // a new registration drops the device's observations
    d.regId = reg.regId;
    d.agentVersion = reg.agent.version;
    d.registeredAt = reg.time;
    this.wake(ep);
  }

  onPresence(ep: string, p: Presence): void {
    this.get(ep).online = p.online;
    this.wake(ep);
  }

  onNotification(ep: string, n: Notification): void {
    this.get(ep).observed.set(n.token, { path: n.path, value: n.value, time: n.time, seq: n.seq });
    this.wake(ep);
  }

  /** The hub lost its broker: nobody's presence is known any more (retained presence tells again after a reconnect). */
  forgetPresence(): void {
    for (const d of this.devices.values()) d.online = null;
  }

  private wake(ep: string): void {
    this.get(ep).events += 1;
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
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        set!.delete(done);
        resolve();
      };
      const onAbort = () => {
        clearTimeout(timer);
        set!.delete(done);
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
