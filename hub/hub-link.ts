// The hub side of the wire contract: one MQTT connection that sends requests to devices, correlates responses
// by id, follows registrations, presence and notifications. Used by `fota device …` and by the hub service.
//
// INVARIANTS
// - Each pending request settles exactly once: with its response, a timeout, or the link closing.
// - Subscriptions are per endpoint (or fleet-wide with `fleet: true`); a topic is subscribed at most once.

import { randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { CODE_TEXT, type CodeValue } from '../protocol/lwm2m.js';
import {
  encode,
  parseNotification,
  parsePresence,
  parseRegistration,
  parseResponse,
  type JsonValue,
  type Notification,
  type Presence,
  type Registration,
  type Request,
  type Response,
} from '../protocol/messages.js';
import { fleetTopics, parseTopic, topicsFor } from '../protocol/topics.js';
import { redactUrl } from '../protocol/redact.js';

export interface HubLinkOptions {
  url: string;
  prefix: string;
  clientId?: string;
  username?: string;
  password?: string;
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized?: boolean;
  /** subscribe to every device under the prefix (the hub); otherwise per endpoint on first use (the CLI) */
  fleet?: boolean;
  connectTimeoutMs?: number;
}

export class RequestTimeout extends Error {
  constructor(
    readonly endpoint: string,
    readonly seconds: number,
  ) {
    super(`no answer from ${endpoint} within ${seconds} s (is it online? try: fota device list)`);
    this.name = 'RequestTimeout';
  }
}

type RequestBody = { op: 'read'; path: string } | { op: 'write'; path: string; value: JsonValue } | { op: 'execute'; path: string; args?: string } | { op: 'observe'; path: string } | { op: 'cancel-observe'; path: string; token?: string };

export interface DeviceEvents {
  registration?(ep: string, reg: Registration): void;
  presence?(ep: string, p: Presence): void;
  notification?(ep: string, n: Notification): void;
}

export function describeCode(code: CodeValue): string {
  return `${code} ${CODE_TEXT[code]}`;
}

export class HubLink {
  private readonly pending = new Map<string, { resolve(r: Response): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  private readonly subscribed = new Set<string>();
  private readonly listeners = new Set<DeviceEvents>();

  private constructor(
    private readonly client: MqttClient,
    private readonly opts: HubLinkOptions,
  ) {
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  /** Connects; rejects with a readable error when the broker cannot be reached within the timeout. */
  static async connect(opts: HubLinkOptions): Promise<HubLink> {
    const options: IClientOptions = {
      clientId: opts.clientId ?? `fota-hub-${randomUUID().slice(0, 8)}`,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: opts.connectTimeoutMs ?? 10_000,
      rejectUnauthorized: opts.rejectUnauthorized ?? true,
      queueQoSZero: false,
    };
    if (opts.username !== undefined) options.username = opts.username;
    if (opts.password !== undefined) options.password = opts.password;
    if (opts.ca !== undefined) options.ca = opts.ca;
    if (opts.cert !== undefined) options.cert = opts.cert;
    if (opts.key !== undefined) options.key = opts.key;
    const client = mqtt.connect(opts.url, options);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`cannot reach the broker at ${redactUrl(opts.url)} (is it running? set --broker or FOTA_BROKER)`)), opts.connectTimeoutMs ?? 10_000);
      const fail = (e: Error) => {
        clearTimeout(timer);
        client.end(true);
        reject(e);
      };
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      client.once('error', (e) => fail(new Error(`broker ${redactUrl(opts.url)}: ${e.message}`)));
    });
    const link = new HubLink(client, opts);
    if (opts.fleet) {
      const t = fleetTopics(opts.prefix);
      await link.subscribe([t.registration, t.presence, t.response, t.notify]);
    }
    // after a reconnect the broker session is new: subscribe again
    client.on('connect', () => {
      const topics = [...link.subscribed];
      link.subscribed.clear();
      void link.subscribe(topics);
    });
    return link;
  }

  get connected(): boolean {
    return this.client.connected;
  }

  on(events: DeviceEvents): () => void {
    this.listeners.add(events);
    return () => this.listeners.delete(events);
  }

  private subscribe(topics: string[]): Promise<void> {
    const fresh = topics.filter((t) => !this.subscribed.has(t));
    if (fresh.length === 0) return Promise.resolve();
    for (const t of fresh) this.subscribed.add(t);
    return new Promise((resolve, reject) => this.client.subscribe(fresh, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
  }

  /** Subscribes to one device's responses, notifications, registration and presence (no-op with `fleet`). */
  async follow(ep: string): Promise<void> {
    if (this.opts.fleet) return;
    const t = topicsFor(this.opts.prefix, ep);
    await this.subscribe([t.response, t.notify, t.registration, t.presence]);
  }

  /** Follows every device's registration and presence (for listings). */
  async followRegistrations(): Promise<void> {
    const t = fleetTopics(this.opts.prefix);
    await this.subscribe([t.registration, t.presence]);
  }

  /** Sends one request and resolves with the device's response; rejects with RequestTimeout. */
  async request(ep: string, body: RequestBody, timeoutMs: number): Promise<Response> {
    await this.follow(ep);
    const id = randomUUID();
    const req = { id, ...body } as Request;
    const answer = new Promise<Response>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestTimeout(ep, Math.round(timeoutMs / 1000)));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
    this.client.publish(topicsFor(this.opts.prefix, ep).request, encode(req), { qos: 1 });
    return answer;
  }

  private onMessage(topic: string, payload: Buffer): void {
    const where = parseTopic(this.opts.prefix, topic);
    if (!where) return;
    const ep = where.endpoint;
    switch (where.kind) {
      case 'response': {
        const r = parseResponse(payload);
        if (!r.ok) return;
        const p = this.pending.get(r.value.id);
        if (!p) return;
        this.pending.delete(r.value.id);
        clearTimeout(p.timer);
        p.resolve(r.value);
        return;
      }
      case 'notify': {
        const n = parseNotification(payload);
        if (n.ok) for (const l of this.listeners) l.notification?.(ep, n.value);
        return;
      }
      case 'registration': {
        if (payload.length === 0) return;
        const reg = parseRegistration(payload);
        if (reg.ok) for (const l of this.listeners) l.registration?.(ep, reg.value);
        return;
      }
      case 'presence': {
        const p = parsePresence(payload);
        if (p.ok) for (const l of this.listeners) l.presence?.(ep, p.value);
        return;
      }
      default:
        return;
    }
  }

  async close(): Promise<void> {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error('link closed'));
      this.pending.delete(id);
    }
    await new Promise<void>((resolve) => this.client.end(false, {}, () => resolve()));
  }
}
