// The broker ACLs of the fota wire contract, made from the topic layout (protocol/topics.ts): each device (its MQTT
// user name is its device id) may use only its own topics; the hub's user may use every device's. The files in
// deploy/mosquitto/ are these texts for the default prefix (a test keeps them equal); `fota broker acl` prints them
// for another prefix. Pure: no IO.

import { DEFAULT_TOPIC_PREFIX, fleetTopics, topicsFor } from '../../protocol/topics.js';

/** The MQTT user name of the hub (and of operators' `fota device` commands) in the shipped configuration. */
export const HUB_USER = 'fota-hub';

/** Mosquitto acl_file text for the devices' listener: pattern lines, %u being the device's user name (its id). */
export function devicesAcl(prefix = DEFAULT_TOPIC_PREFIX): string {
  const t = topicsFor(prefix, '%u');
  return [
    `# fota: what every device may do on the broker (Mosquitto acl_file of the devices' listener; the embedded broker`,
    `# of \`fota hub\` applies the same lines). A device logs in with its device id as user name, and gets its own`,
    `# topics only: no other device's requests, no one else's registration, responses or notifications.`,
    `# Topic prefix "${prefix}" (for another one: fota broker acl --prefix P).`,
    `pattern write ${t.registration}`,
    `pattern write ${t.presence}`,
    `pattern read ${t.request}`,
    `pattern write ${t.response}`,
    `pattern write ${t.notify}`,
    '',
  ].join('\n');
}

/** Mosquitto acl_file text for the hub's listener: the hub's user reads every device's topics and writes requests. */
export function hubAcl(prefix = DEFAULT_TOPIC_PREFIX, users: readonly string[] = [HUB_USER]): string {
  const f = fleetTopics(prefix);
  const request = topicsFor(prefix, '+').request;
  const block = (u: string) => [`user ${u}`, `topic read ${f.registration}`, `topic read ${f.presence}`, `topic read ${f.response}`, `topic read ${f.notify}`, `topic write ${request}`];
  return [
    `# fota: what the hub may do on the broker (Mosquitto acl_file of the hub's listener; the embedded broker of`,
    `# \`fota hub\` applies the same lines). Operators' \`fota device\` commands log in as the same user, or as one`,
    `# more user block like this one. Topic prefix "${prefix}" (for another one: fota broker acl --prefix P).`,
    ...users.flatMap(block),
    '',
  ].join('\n');
}
