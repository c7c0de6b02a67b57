// A raw MQTT client for sending what a well-behaved hub never would (retained requests, replayed ids, floods,
// malformed payloads) to devices, collecting every response they publish. Closed by `close()` in teardown.

import mqtt, { type MqttClient } from 'mqtt';
import type { Response } from '../../protocol/messages.js';
import { topicsFor } from '../../protocol/topics.js';

export interface RawClient {
  client: MqttClient;
  /** every response seen on the followed devices' response topics, in arrival order */
  responses: Response[];
  /** publishes `body` (JSON-encoded unless already a string or bytes) on a device's request topic */
  send(ep: string, body: Record<string, unknown> | string | Buffer, opts?: { retain?: boolean; qos?: 0 | 1 }): Promise<unknown>;
  close(): Promise<void>;
}

/** Connects and follows the responses of `devices` ("+" for every device under the prefix). */
export async function rawClient(url: string, clientId: string, devices = '+'): Promise<RawClient> {
  const client = await mqtt.connectAsync(url, { clientId });
  const responses: Response[] = [];
  await client.subscribeAsync(topicsFor('lwm2m', devices).response, { qos: 1 });
  client.on('message', (_t, p) => {
    try {
      responses.push(JSON.parse(p.toString()) as Response);
    } catch {
      // not a response a test looks at
    }
  });
  return {
    client,
    responses,
    send: (ep, body, opts = {}) =>
      client.publishAsync(topicsFor('lwm2m', ep).request, typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body), { qos: opts.qos ?? 1, retain: opts.retain === true }),
    close: () => client.endAsync(),
  };
}
