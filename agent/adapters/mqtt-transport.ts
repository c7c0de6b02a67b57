// Transport over MQTT (mqtt.js 5, MQTT 3.1.1 wire protocol by default so any broker works, the embedded one too).
// Reconnects with exponential backoff and full jitter (mqtt.js only has a fixed period: MQTT.js#561), publishes
// only while connected (no unbounded offline queue: the hub re-reads state when the device registers again).
//
// INVARIANTS
// - One mqtt.js client for the agent's lifetime; reconnects reuse it (`reconnect()`), never a second client with the
//   same clientId (two would kick each other off forever: MQTT.js#1585).
// - At most one reconnect timer is armed; `stop()` disarms it and no reconnect happens afterwards.

import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Duplex } from 'node:stream';
import { encode, MAX_MESSAGE_BYTES, parseRequest, type Notification, type Registration, type Response } from '../../protocol/messages.js';
import type { Topics } from '../../protocol/topics.js';
import { redactUrl } from '../../protocol/redact.js';
import type { Logger, Transport, TransportHandlers } from '../core/ports.js';
import { capStream } from './mqtt-packet-cap.js';

/**
 * The largest MQTT packet body (Remaining Length) received whole: a request payload of at most MAX_MESSAGE_BYTES
 * plus its topic and headers. A larger PUBLISH reaches the agent without its payload (mqtt-packet-cap.ts).
 */
export const MAX_PACKET_REMAINING = MAX_MESSAGE_BYTES + 4096;

export interface MqttTransportOptions {
  url: string;
  clientId: string;
  topics: Topics;
  username?: string;
  password?: string;
  /** PEM contents, not paths */
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
  keepaliveSec: number;
  protocolVersion: 4 | 5;
  connectTimeoutMs: number;
  backoff: { initialMs: number; maxMs: number };
  logger: Logger;
  random?: () => number;
}

export class MqttTransport implements Transport {
  private client: MqttClient | undefined;
  private handlers: TransportHandlers | undefined;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private stableTimer: NodeJS.Timeout | undefined;
  /** subscribed to the request topic on the current connection: requests can reach us */
  private subscribed = false;

  constructor(private readonly opts: MqttTransportOptions) {}

  /** connected and subscribed: a request published now reaches the agent */
  get connected(): boolean {
    return this.subscribed && this.client?.connected === true;
  }

  async start(handlers: TransportHandlers): Promise<void> {
    const { opts } = this;
    this.handlers = handlers;
    const options: IClientOptions = {
      clientId: opts.clientId,
      protocolVersion: opts.protocolVersion,
      clean: true,
      keepalive: opts.keepaliveSec,
      connectTimeout: opts.connectTimeoutMs,
      reconnectPeriod: 0, // we drive reconnects (backoff with jitter)
      queueQoSZero: false,
      resubscribe: false,
      // mqtt-packet's cache of 65,536 packet-number buffers costs ~6 MiB of a device's memory for nothing we need
      writeCache: false,
      rejectUnauthorized: opts.rejectUnauthorized,
      will: { topic: opts.topics.presence, payload: Buffer.from(encode({ online: false })), qos: 1, retain: true },
      // the stream cap is installed before the first connection (below)
      manualConnect: true,
    };
    // MQTT 5 §3.1.2.11.4: the server must not send a larger packet (MQTT 3.1.1 has no such negotiation)
    if (opts.protocolVersion === 5) options.properties = { maximumPacketSize: MAX_PACKET_REMAINING + 5 };
    if (opts.username !== undefined) options.username = opts.username;
    if (opts.password !== undefined) options.password = opts.password;
    if (opts.ca !== undefined) options.ca = opts.ca;
    if (opts.cert !== undefined) options.cert = opts.cert;
    if (opts.key !== undefined) options.key = opts.key;
    const client = mqtt.connect(opts.url, options);
    this.capIncoming(client);
    this.client = client;
    client.on('connect', () => this.onConnect());
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet.retain));
    client.on('close', () => this.onClose());
    client.on('error', (err) => opts.logger.warn('mqtt error', { error: err.message, code: (err as { code?: unknown }).code }));
    client.connect();
  }

  /**
   * Puts mqtt-packet-cap.ts between each new connection and mqtt.js's parser, so an oversized message never becomes a
   * buffer. mqtt.js 5 builds every connection with the client's `streamBuilder` (MqttClient.connect()); it is not
   * public API, so its absence is a startup error rather than a silently uncapped agent.
   */
  private capIncoming(client: MqttClient): void {
    const c = client as unknown as { streamBuilder?: (client: MqttClient) => Duplex };
    const build = c.streamBuilder;
    if (typeof build !== 'function') throw new Error('mqtt.js has no streamBuilder: the incoming packet cap cannot be installed (mqtt.js version changed?)');
    const { logger, protocolVersion } = this.opts;
    c.streamBuilder = (cl) =>
      capStream(build(cl), {
        maxRemaining: MAX_PACKET_REMAINING,
        protocolVersion,
        oversized: ({ topic, bytes }) => logger.warn('dropped an oversized MQTT message (its payload was never buffered)', { topic, bytes, limit: MAX_PACKET_REMAINING }),
      });
  }

  private onConnect(): void {
    const client = this.client;
    if (!client) return;
    this.opts.logger.info('connected to the broker', { url: redactUrl(this.opts.url) });
    // the attempt counter resets only once the connection has held for a while (flapping brokers)
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => (this.attempt = 0), 30_000);
    client.subscribe(this.opts.topics.request, { qos: 1 }, (err) => {
      if (err) {
        this.opts.logger.error('could not subscribe to requests', { error: err.message });
        client.end(true);
        return;
      }
      this.subscribed = true;
      this.publish(this.opts.topics.presence, encode({ online: true, time: Date.now() }), true);
      this.handlers?.connected();
    });
  }

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    // an empty message is how a retained one is cleared (MQTT 3.1.1 §3.3.1.3): nothing to answer
    if (topic !== this.opts.topics.request || payload.length === 0) return;
    const parsed = parseRequest(payload);
    const id = parsed.ok ? parsed.value.id : parsed.id;
    if (retained) {
      // The broker sets the retain flag only on a stored message delivered because we subscribed (MQTT 3.1.1
      // §3.3.1.3, MQTT 5 §3.3.1.3 with Retain As Published off). The hub never retains requests: acting on one would
      // repeat it at every reconnect (a Reboot published retained was a reboot loop).
      this.opts.logger.warn('ignored a retained request', { id, bytes: payload.length });
      this.handlers?.refused({ ...(id !== undefined ? { id } : {}), reason: 'retained requests are not acted on (a broker replays them at every subscribe); clear it by publishing an empty retained message to the request topic and send it without retain' });
      return;
    }
    if (parsed.ok) this.handlers?.request(parsed.value);
    else this.handlers?.refused({ ...(id !== undefined ? { id } : {}), reason: parsed.reason });
  }

  private onClose(): void {
    this.subscribed = false;
    clearTimeout(this.stableTimer);
    if (this.stopping) return;
    this.handlers?.disconnected('connection closed');
    if (this.timer) return;
    const { initialMs, maxMs } = this.opts.backoff;
    const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempt, 20));
    const delay = Math.round((this.opts.random ?? Math.random)() * ceiling);
    this.attempt++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopping) this.client?.reconnect();
    }, delay);
  }

  private publish(topic: string, payload: string, retain = false): void {
    const client = this.client;
    if (!client?.connected) return;
    client.publish(topic, payload, { qos: 1, retain }, (err) => {
      if (err) this.opts.logger.warn('publish failed', { topic, error: err.message });
    });
  }

  respond(res: Response): void {
    this.publish(this.opts.topics.response, encode(res));
  }

  notify(n: Notification): void {
    this.publish(this.opts.topics.notify, encode(n));
  }

  register(reg: Registration): void {
    this.publish(this.opts.topics.registration, encode(reg), true);
  }

  async flush(timeoutMs: number): Promise<void> {
    const client = this.client;
    // monotonic: a wall clock set back must not stretch the wait
    const deadline = performance.now() + timeoutMs;
    while (client?.connected && Object.keys(client.outgoing).length > 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.timer);
    clearTimeout(this.stableTimer);
    const client = this.client;
    if (!client) return;
    if (client.connected) {
      await withTimeout(
        new Promise<void>((resolve) => client.publish(this.opts.topics.presence, encode({ online: false, time: Date.now() }), { qos: 1, retain: true }, () => resolve())),
        2000,
      );
    }
    // a broker that went away must not hold the agent's shutdown: force the end after a grace period
    await withTimeout(new Promise<void>((resolve) => client.end(false, {}, () => resolve())), 2000);
    if (client.connected) client.end(true);
  }
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
