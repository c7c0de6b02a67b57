// MQTT topic layout of the fota wire contract, in the spirit of the LwM2M 1.2 MQTT binding
// (registration on `lwm2m/rd/<endpoint>`). The prefix is configurable; "lwm2m" by default.

export const DEFAULT_TOPIC_PREFIX = 'lwm2m';

/** Endpoint (device id) names: one MQTT topic level, no wildcards, printable. */
export const ENDPOINT_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** Topic prefixes: one or more levels, no wildcards, no leading or trailing slash. */
export const PREFIX_RE = /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

export function isValidEndpoint(ep: string): boolean {
  return ENDPOINT_RE.test(ep);
}

export interface Topics {
  /** retained Register / Update message (Registration interface) */
  readonly registration: string;
  /** retained presence {online}; the device's MQTT last will sets it offline */
  readonly presence: string;
  /** hub → device requests (Device Management interface) */
  readonly request: string;
  /** device → hub responses, correlated by request id */
  readonly response: string;
  /** device → hub notifications of observed resources (Information Reporting interface) */
  readonly notify: string;
}

export function topicsFor(prefix: string, endpoint: string): Topics {
  return {
    registration: `${prefix}/rd/${endpoint}`,
    presence: `${prefix}/rd/${endpoint}/presence`,
    request: `${prefix}/dm/${endpoint}/req`,
    response: `${prefix}/dm/${endpoint}/res`,
    notify: `${prefix}/ir/${endpoint}/notify`,
  };
}

/** Wildcard subscriptions a hub uses to follow every device under a prefix. */
export function fleetTopics(prefix: string) {
  return {
    registration: `${prefix}/rd/+`,
    presence: `${prefix}/rd/+/presence`,
    response: `${prefix}/dm/+/res`,
    notify: `${prefix}/ir/+/notify`,
  } as const;
}

export type TopicKind = 'registration' | 'presence' | 'request' | 'response' | 'notify';

/** Splits a concrete topic back into its kind and endpoint; undefined when it is not a fota topic. */
export function parseTopic(prefix: string, topic: string): { kind: TopicKind; endpoint: string } | undefined {
  if (!topic.startsWith(prefix + '/')) return undefined;
  const rest = topic.slice(prefix.length + 1).split('/');
  const [iface, ep, leaf, extra] = rest;
  if (ep === undefined || !isValidEndpoint(ep) || extra !== undefined) return undefined;
  if (iface === 'rd' && leaf === undefined) return { kind: 'registration', endpoint: ep };
  if (iface === 'rd' && leaf === 'presence') return { kind: 'presence', endpoint: ep };
  if (iface === 'dm' && leaf === 'req') return { kind: 'request', endpoint: ep };
  if (iface === 'dm' && leaf === 'res') return { kind: 'response', endpoint: ep };
  if (iface === 'ir' && leaf === 'notify') return { kind: 'notify', endpoint: ep };
  return undefined;
}
