// The broker side of device identity, as pure logic: Mosquitto's password file (hashes made by the real
// mosquitto_passwd verify here, ours the other way round in test/integration/broker-acl.test.ts), Mosquitto's ACL
// semantics, and the shipped ACL files being exactly what the code makes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { devicesAcl, hubAcl, HUB_USER } from '../../hub/broker/fota-acl.js';
import { allows, AclError, parseAcl, topicMatches } from '../../hub/broker/mosquitto-acl.js';
import { hashPassword, parsePasswordFile, PasswordFileError, verifyPassword, withUser } from '../../hub/broker/password-file.js';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('Mosquitto password file', () => {
  // made by mosquitto_passwd 2.0 (-H sha512 for the first, the default sha512-pbkdf2 for the second), password "s3cret"
  const file = [
    '# a comment',
    'old-dev:$6$Q2l+7bQckTsQIJ0G$KuXseRz8DsKd7+YOrDIlUqBKMQslyNs29SFIPGYA5r1sfeyciSxjcU4sW2lVuI8BtuUbOHs8Ojl34qcXT0tb6Q==',
    'new-dev:$7$101$AlRjQQEb1CK+5xYq$N6E08DKKIAn7TmLjRLBvdziueZ7mTm07s9fXVwQR7GkJKonMwvpgRY2qAaQBwnyvE5y49BaY2Na4X9HUgQjouA==',
    'broken:$7$101$short$AAAA',
    'nohash:',
    '',
  ].join('\n');
  const users = parsePasswordFile(file);

  it("verifies mosquitto_passwd's hashes, and nothing else", () => {
    expect(verifyPassword(users, 'old-dev', 's3cret')).toBe(true);
    expect(verifyPassword(users, 'new-dev', 's3cret')).toBe(true);
    expect(verifyPassword(users, 'new-dev', 's3cret ')).toBe(false);
    expect(verifyPassword(users, 'new-dev', '')).toBe(false);
    expect(verifyPassword(users, 'broken', 'anything')).toBe(false);
    expect(verifyPassword(users, 'nohash', '')).toBe(false); // Mosquitto drops such an entry
    expect(verifyPassword(users, 'nobody', 's3cret')).toBe(false);
  });

  it('adds, replaces and removes one user, keeping the others and the comments', () => {
    const h = hashPassword('p1');
    expect(h).toMatch(/^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
    let text = withUser(file, 'dev-3', h);
    expect(verifyPassword(parsePasswordFile(text), 'dev-3', 'p1')).toBe(true);
    text = withUser(text, 'new-dev', hashPassword('p2'));
    expect(verifyPassword(parsePasswordFile(text), 'new-dev', 'p2')).toBe(true);
    expect(verifyPassword(parsePasswordFile(text), 'old-dev', 's3cret')).toBe(true);
    expect(text.startsWith('# a comment\n')).toBe(true);
    text = withUser(text, 'old-dev', null);
    expect(parsePasswordFile(text).has('old-dev')).toBe(false);
    expect(() => withUser(text, 'old-dev', null)).toThrow(PasswordFileError);
    expect(() => withUser(text, 'a:b', h)).toThrow(PasswordFileError);
  });
});

describe('Mosquitto ACL semantics', () => {
  it('matches topics as mosquitto_topic_matches_sub does', () => {
    expect(topicMatches('a/#', 'a')).toBe(true);
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+', 'a/b')).toBe(true);
    expect(topicMatches('a/+', 'a/b/c')).toBe(false);
    expect(topicMatches('a/+/c', 'a//c')).toBe(true);
    expect(topicMatches('#', '$SYS/x')).toBe(false);
    expect(topicMatches('$SYS/#', '$SYS/x')).toBe(true);
  });

  it('applies user entries, then patterns with %u and %c; deny first; nothing for + or # in names', () => {
    const acl = parseAcl(['topic read open/#', 'user admin', 'topic readwrite a/#', 'topic deny a/secret', 'pattern write d/%u/out', 'pattern read d/%c/in', ''].join('\n'));
    const admin = { username: 'admin', clientId: 'x' };
    expect(allows(acl, admin, 'a/b', 'write')).toBe(true);
    expect(allows(acl, admin, 'a/secret', 'read')).toBe(false);
    expect(allows(acl, { username: 'dev1', clientId: 'c1' }, 'd/dev1/out', 'write')).toBe(true);
    expect(allows(acl, { username: 'dev1', clientId: 'c1' }, 'd/dev2/out', 'write')).toBe(false);
    expect(allows(acl, { username: 'dev1', clientId: 'c1' }, 'd/dev1/out', 'read')).toBe(false);
    expect(allows(acl, { username: 'dev1', clientId: 'c1' }, 'd/c1/in', 'read')).toBe(true);
    expect(allows(acl, { username: 'dev1', clientId: 'c1' }, 'a/b', 'read')).toBe(false); // admin's entries are admin's
    expect(allows(acl, { username: 'x+', clientId: 'c1' }, 'd/x+/out', 'write')).toBe(false);
    expect(allows(acl, { username: 'dev1', clientId: '#' }, 'd/dev1/out', 'write')).toBe(false);
    // entries before any user line are for clients without a user name; patterns with %u are not
    expect(allows(acl, { clientId: 'anon' }, 'open/x', 'read')).toBe(true);
    expect(allows(acl, { clientId: 'anon' }, 'd/%u/out', 'write')).toBe(false);
    expect(allows(acl, { username: 'dev1', clientId: '%u' }, 'd/%u/in', 'read')).toBe(true); // one pass: %u in an id stays
  });

  it('refuses what Mosquitto refuses to start with, naming the line', () => {
    expect(() => parseAcl('topic maybe a/b')).toThrow(new AclError('ACL line 1 ("topic maybe a/b"): access must be read, write, readwrite or deny'));
    expect(() => parseAcl('\nuser')).toThrow(/line 2.*missing user name/);
    expect(() => parseAcl('topic read a/#/b')).toThrow(/not a valid topic filter/);
    expect(() => parseAcl('subscribe a')).toThrow(/expected user, topic or pattern/);
  });
});

describe('the fota ACLs', () => {
  it('are the files shipped in deploy/mosquitto/', () => {
    expect(readFileSync(join(ROOT, 'deploy/mosquitto/devices.acl'), 'utf8')).toBe(devicesAcl());
    expect(readFileSync(join(ROOT, 'deploy/mosquitto/hub.acl'), 'utf8')).toBe(hubAcl());
  });

  it('confine a device to its own topics and give the hub every device\'s', () => {
    const acl = parseAcl(`${hubAcl('acme/fleet')}${devicesAcl('acme/fleet')}`);
    const dev = { username: 'd1', clientId: 'd1' };
    const hub = { username: HUB_USER, clientId: 'fota-hub-1234' };
    const can = (c: typeof dev, t: string, a: 'read' | 'write') => allows(acl, c, `acme/fleet/${t}`, a);
    expect([can(dev, 'rd/d1', 'write'), can(dev, 'rd/d1/presence', 'write'), can(dev, 'dm/d1/req', 'read'), can(dev, 'dm/d1/res', 'write'), can(dev, 'ir/d1/notify', 'write')]).toEqual([true, true, true, true, true]);
    expect([can(dev, 'rd/d2', 'write'), can(dev, 'dm/d2/req', 'read'), can(dev, 'dm/d1/req', 'write'), can(dev, 'dm/d2/res', 'write'), can(dev, 'ir/d2/notify', 'write'), can(dev, 'rd/d2', 'read')]).toEqual([false, false, false, false, false, false]);
    expect([can(hub, 'rd/d2', 'read'), can(hub, 'rd/d2/presence', 'read'), can(hub, 'dm/d2/res', 'read'), can(hub, 'ir/d2/notify', 'read'), can(hub, 'dm/d2/req', 'write')]).toEqual([true, true, true, true, true]);
    expect([can(hub, 'rd/d2', 'write'), can(hub, 'dm/d2/res', 'write')]).toEqual([false, false]);
  });
});
