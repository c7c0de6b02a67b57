// The hub side of the wire contract: one MQTT connection that sends requests to devices, correlates responses
// by id, follows registrations, presence and notifications. Used by `fota device …` and by the hub service.
// Reconnects for as long as it lives, with exponential backoff and full jitter (mqtt.js only has a fixed period).
//
// INVARIANTS
// - Each pending request settles exactly once: with its response (from the topic of the device it was sent to),
//   a timeout, the connection dropping (LinkDown: the answer can no longer arrive), or the link closing.
// - One mqtt.js client for the link's lifetime; reconnects reuse it, at most one reconnect timer is armed, and
//   none after close(). Its 'error' events are always listened to (an unheard 'error' throws).
// - Subscriptions are per endpoint (or fleet-wide with `fleet: true`); a topic is subscribed at most once per
//   connection, and every topic is subscribed again after a reconnect (the session is clean).

import { randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type ISubscriptionGrant, type MqttClient } from 'mqtt';
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
  /** default `fota-hub-<random>`: unique, so two hubs or CLIs never take each other's session */
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
  /** reconnect delays: full jitter under min(maxMs, initialMs·2^attempt) (default 500 ms … 10 s) */
  backoff?: { initialMs: number; maxMs: number };
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  random?: () => number;
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

/** The request could not be sent, or its answer can no longer arrive: the link to the broker is down. */
export class LinkDown extends Error {
  constructor(readonly endpoint: string) {
    super(`no connection to the broker: the request to ${endpoint} was not sent or its answer was lost`);
    this.name = 'LinkDown';
  }
}

type RequestBody = { op: 'read'; path: string } | { op: 'write'; path: string; value: JsonValue } | { op: 'execute'; path: string; args?: string } | { op: 'observe'; path: string } | { op: 'cancel-observe'; path: string; token?: string };

export interface DeviceEvents {
  registration?(ep: string, reg: Registration): void;
  presence?(ep: string, p: Presence): void;
  notification?(ep: string, n: Notification): void;
  /** the connection to the broker went down (false) or is back with every subscription in place (true) */
  link?(up: boolean): void;
}

export function describeCode(code: CodeValue): string {
  return `${code} ${CODE_TEXT[code]}`;
}

interface Pending {
  ep: string;
  resolve(r: Response): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** Throws when the broker refused a subscription (SUBACK 0x80: usually its ACL), naming the topics. */
function checkGranted(granted: ISubscriptionGrant[] | undefined, user: string | undefined): void {
  const refused = (granted ?? []).filter((g) => g.qos === 128 || g.qos > 2).map((g) => g.topic);
  if (refused.length > 0) throw new Error(`the broker refused the subscription to ${refused.join(', ')}${user ? ` for user ${user}` : ''}: check its ACL (deploy/mosquitto/acl)`);
}

export class HubLink {
  private readonly pending = new Map<string, Pending>();
  private readonly subscribed = new Set<string>();
  private readonly listeners = new Set<DeviceEvents>();
  private readonly upWaiters = new Set<() => void>();
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private stableTimer: NodeJS.Timeout | undefined;
  private closing = false;
  /** up: connected and subscribed; changes only through setUp() */
  private up = true;
  private changedAt = Date.now();
  private changedMono = performance.now();

  private constructor(
    private readonly client: MqttClient,
    private readonly opts: HubLinkOptions,
  ) {
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', (e) => this.log('broker connection error', { error: e.message, code: (e as { code?: unknown }).code }));
    client.on('close', () => this.onClose());
    client.on('connect', () => this.onReconnect());
  }

  /** Connects; rejects with a readable error when the broker cannot be reached (or refuses us) within the timeout. */
  static async connect(opts: HubLinkOptions): Promise<HubLink> {
    const options: IClientOptions = {
      clientId: opts.clientId ?? `fota-hub-${randomUUID().slice(0, 8)}`,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0, // we drive reconnects (backoff with jitter)
      resubscribe: false, // we subscribe again ourselves, and check the broker granted it
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
      const done = (e?: Error) => {
        clearTimeout(timer);
        client.off('connect', onConnect);
        client.off('error', onError);
        client.off('close', onClose);
        if (!e) return resolve();
        client.end(true);
        reject(e);
      };
      const onConnect = () => done();
      const onError = (e: Error) => done(new Error(`broker ${redactUrl(opts.url)}: ${e.message}`));
      const onClose = () => done(new Error(`cannot reach the broker at ${redactUrl(opts.url)} (is it running? set --broker or FOTA_BROKER)`));
      const timer = setTimeout(onClose, opts.connectTimeoutMs ?? 10_000);
      client.on('connect', onConnect);
      client.on('error', onError);
      client.on('close', onClose);
    });
    const link = new HubLink(client, opts);
    link.armStable();
    if (opts.fleet) {
      const t = fleetTopics(opts.prefix);
      try {
        await link.subscribe([t.registration, t.presence, t.response, t.notify]);
      } catch (e) {
        await link.close();
        throw e;
      }
    }
    return link;
  }

  /** Connected to the broker with every subscription in place. */
  get connected(): boolean {
    return this.up && this.client.connected;
  }

  /** Whether the link is up, since when (ISO time of the last change, for people) and for how long (monotonic ms). */
  state(): { connected: boolean; since: string; forMs: number } {
    return { connected: this.connected, since: new Date(this.changedAt).toISOString(), forMs: performance.now() - this.changedMono };
  }

  on(events: DeviceEvents): () => void {
    this.listeners.add(events);
    return () => this.listeners.delete(events);
  }

  /** Resolves once the link is up (at once when it is); rejects with the signal's reason when it aborts. */
  whenConnected(signal: AbortSignal): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const done = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.upWaiters.delete(done);
        reject(signal.reason);
      };
      this.upWaiters.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private log(msg: string, fields?: Record<string, unknown>): void {
    this.opts.log?.(msg, fields);
  }

  private setUp(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    this.changedAt = Date.now();
    this.changedMono = performance.now();
    if (up) {
      this.log('connected to the broker again', { url: redactUrl(this.opts.url) });
      for (const w of [...this.upWaiters]) w();
      this.upWaiters.clear();
    } else {
      this.log('lost the connection to the broker: reconnecting', { url: redactUrl(this.opts.url) });
      // answers to requests in flight are lost with the session: fail them now rather than at their timeout
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        this.pending.delete(id);
        p.reject(new LinkDown(p.ep));
      }
    }
    for (const l of this.listeners) l.link?.(up);
  }

  private subscribe(topics: string[]): Promise<void> {
    const fresh = topics.filter((t) => !this.subscribed.has(t));
    if (fresh.length === 0) return Promise.resolve();
    for (const t of fresh) this.subscribed.add(t);
    return new Promise((resolve, reject) =>
      this.client.subscribe(fresh, { qos: 1 }, (err, granted) => {
        try {
          if (err) throw err;
          checkGranted(granted, this.opts.username);
          resolve();
        } catch (e) {
          for (const t of fresh) this.subscribed.delete(t);
          reject(e as Error);
        }
      }),
    );
  }

  private armStable(): void {
    // the attempt counter resets only once a connection has held for a while (a flapping broker backs off)
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => (this.attempt = 0), 30_000);
    this.stableTimer.unref();
  }

  private onReconnect(): void {
    if (this.closing) return;
    this.armStable();
    // the broker session is new: subscribe to everything again, and say we are up only once that is done
    const topics = [...this.subscribed];
    this.subscribed.clear();
    this.subscribe(topics).then(
      () => this.setUp(true),
      (e: Error) => {
        this.log('could not subscribe again after reconnecting: dropping the connection to try again', { error: e.message });
        this.client.end(true, {}, () => this.onClose());
      },
    );
  }

  private onClose(): void {
    clearTimeout(this.stableTimer);
    if (this.closing) return;
    this.setUp(false);
    if (this.timer) return;
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 500, maxMs: 10_000 };
    const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempt, 20));
    const delay = Math.round((this.opts.random ?? Math.random)() * ceiling);
    this.attempt++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.closing) this.client.reconnect();
    }, delay);
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

  /** Sends one request and resolves with the device's response; rejects with RequestTimeout or LinkDown. */
  async request(ep: string, body: RequestBody, timeoutMs: number): Promise<Response> {
    if (!this.connected) throw new LinkDown(ep);
    await this.follow(ep);
    const id = randomUUID();
    const req = { id, ...body } as Request;
    const answer = new Promise<Response>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestTimeout(ep, Math.round(timeoutMs / 1000)));
      }, timeoutMs);
      this.pending.set(id, { ep, resolve, reject, timer });
    });
    // publish only while connected: mqtt.js would queue it and send it, stale, after a reconnect
    if (!this.connected) {
      this.settle(id, new LinkDown(ep));
      return answer;
    }
    this.client.publish(topicsFor(this.opts.prefix, ep).request, encode(req), { qos: 1 });
    return answer;
  }

  private settle(id: string, outcome: Response | Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
  }

  private onMessage(topic: string, payload: Buffer): void {
    const where = parseTopic(this.opts.prefix, topic);
    if (!where) return;
    const ep = where.endpoint;
    switch (where.kind) {
      case 'response': {
        const r = parseResponse(payload);
        // only the device a request went to may answer it (another device's topic never settles it)
        if (r.ok && this.pending.get(r.value.id)?.ep === ep) this.settle(r.value.id, r.value);
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
        // the endpoint is the topic's (the broker's ACL guards topics, not payloads): a message naming another is refused
        if (reg.ok && reg.value.ep === ep) for (const l of this.listeners) l.registration?.(ep, reg.value);
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
    this.closing = true;
    clearTimeout(this.timer);
    clearTimeout(this.stableTimer);
    for (const [id] of this.pending) this.settle(id, new Error('link closed'));
    // a broker that went away must not hold the shutdown: force the end after a grace period
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.client.end(true);
        resolve();
      }, 2000);
      this.client.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
