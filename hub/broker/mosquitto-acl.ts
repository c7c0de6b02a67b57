// Mosquitto's acl_file, read and applied the way Mosquitto 2.0 does (src/security_default.c, aclfile__parse and
// mosquitto_acl_check_default), so the embedded broker enforces the very file shipped for Mosquitto. Pure: no IO.
//
// Semantics kept from Mosquitto: `user NAME` starts the entries of one user (entries before any `user` line are
// for clients without a user name); `topic [read|write|readwrite|deny] T` and `pattern … T` (with %u and %c, for
// every client); deny entries are looked at first; a client whose user name or client id holds + or # gets nothing
// from patterns; topics starting with $ match only entries starting with $. Subscriptions are not checked (Mosquitto
// 2.0's default ACL does not either): each message is checked when it would be delivered (read).

export type Access = 'read' | 'write';

interface Entry {
  topic: string;
  /** read, write, both, or none (deny) */
  read: boolean;
  write: boolean;
  deny: boolean;
}

export interface Acl {
  /** user name ('' for clients without one) → its entries, deny entries first */
  users: Map<string, Entry[]>;
  /** patterns, deny entries first */
  patterns: Entry[];
}

export interface AclClient {
  username?: string | undefined;
  clientId: string;
}

export class AclError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AclError';
  }
}

/** MQTT topic filter matching (MQTT 3.1.1 §4.7), as mosquitto_topic_matches_sub: `a/#` also matches `a`. */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && !filter.startsWith('$')) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return i === f.length - 1;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

function validFilter(topic: string): boolean {
  const levels = topic.split('/');
  return topic.length > 0 && levels.every((l, i) => (l.includes('#') ? l === '#' && i === levels.length - 1 : !l.includes('+') || l === '+'));
}

const ACCESS: Record<string, Omit<Entry, 'topic'>> = {
  read: { read: true, write: false, deny: false },
  write: { read: false, write: true, deny: false },
  readwrite: { read: true, write: true, deny: false },
  deny: { read: false, write: false, deny: true },
};

/** Parses acl_file text. Throws AclError naming the line for anything Mosquitto would refuse to start with. */
export function parseAcl(text: string): Acl {
  const acl: Acl = { users: new Map(), patterns: [] };
  let user = '';
  const add = (list: Entry[], e: Entry) => (e.deny ? list.unshift(e) : list.push(e));
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\s+$/, '');
    if (line === '' || line.startsWith('#')) return;
    const [word, ...rest] = line.split(' ').filter((w) => w !== '');
    const where = `ACL line ${i + 1} ("${line.slice(0, 80)}")`;
    if (word === 'user') {
      if (rest.length === 0) throw new AclError(`${where}: missing user name`);
      user = rest.join(' ');
      return;
    }
    if (word !== 'topic' && word !== 'pattern') throw new AclError(`${where}: expected user, topic or pattern`);
    if (rest.length === 0) throw new AclError(`${where}: missing topic`);
    const access = rest.length > 1 ? ACCESS[rest[0] as string] : ACCESS.readwrite;
    if (!access) throw new AclError(`${where}: access must be read, write, readwrite or deny`);
    const topic = (rest.length > 1 ? rest.slice(1) : rest).join(' ');
    if (!validFilter(topic)) throw new AclError(`${where}: "${topic}" is not a valid topic filter`);
    const entry = { topic, ...access };
    if (word === 'pattern') add(acl.patterns, entry);
    else {
      const list = acl.users.get(user) ?? [];
      acl.users.set(user, list);
      add(list, entry);
    }
  });
  return acl;
}

function decide(entries: Entry[], topic: string, access: Access, expand: (t: string) => string): boolean | undefined {
  for (const e of entries) {
    if (!topicMatches(expand(e.topic), topic)) continue;
    if (e.deny) return false;
    if (e[access]) return true;
  }
  return undefined;
}

/** Whether `client` may publish (write) to, or receive (read) a message on, `topic`. */
export function allows(acl: Acl, client: AclClient, topic: string, access: Access): boolean {
  const own = decide(acl.users.get(client.username ?? '') ?? [], topic, access, (t) => t);
  if (own !== undefined) return own;
  if (acl.patterns.length === 0) return false;
  if (/[+#]/.test(client.username ?? '') || /[+#]/.test(client.clientId)) return false;
  const usable = client.username === undefined ? acl.patterns.filter((p) => !p.topic.includes('%u')) : acl.patterns;
  // one pass, as Mosquitto: a client id holding "%u" is not expanded again
  const expand = (t: string) => t.replace(/%([cu])/g, (_m, k: string) => (k === 'c' ? client.clientId : (client.username ?? '')));
  return decide(usable, topic, access, expand) ?? false;
}
