// `fota broker add-device | add-hub | remove | acl`: the broker side of device identity. Edits a Mosquitto password
// file (the shipped deploy/mosquitto/ configuration and `fota hub --mqtt-passwd` read it) one writer at a time,
// atomically, and prints the fota ACLs. Passwords are made here, never taken from the command line (ps would show them).

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { devicesAcl, hubAcl, HUB_USER } from '../../hub/broker/fota-acl.js';
import { hashPassword, parsePasswordFile, PasswordFileError, randomPassword, withUser } from '../../hub/broker/password-file.js';
import { HubLockError, takeFileLock } from '../../hub/hub-lock.js';
import { DEFAULT_TOPIC_PREFIX, isValidEndpoint, PREFIX_RE } from '../../protocol/topics.js';
import { CliError, EXIT, requireOpt, str, usageError, type Command, type Parsed } from '../command.js';

/** Reads the password file ('' when it does not exist yet). */
function readPasswd(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new CliError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.failure);
  }
}

/** Writes `text` to `path` atomically (temporary file, fsync, rename, fsync of the folder), keeping its mode. */
function writeAtomically(path: string, text: string, newMode: number): void {
  let mode = newMode;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    // a new file
  }
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, text, { mode, flag: 'wx' });
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed or never written
    }
    throw new CliError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.failure);
  }
}

/** Runs `edit` on the password file under its lock (waiting up to 10 s for another `fota broker` to finish). */
async function editPasswd(path: string, edit: (text: string) => string): Promise<void> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    try {
      const lock = takeFileLock(`${path}.lock`, (holder) => `${path} is being changed by another process (${holder}); try again when it is done`);
      try {
        writeAtomically(path, edit(readPasswd(path)), 0o640);
        return;
      } finally {
        lock.release();
      }
    } catch (e) {
      if (e instanceof HubLockError && e.message.includes('is being changed') && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (e instanceof HubLockError || e instanceof PasswordFileError) throw new CliError(e.message, EXIT.failure);
      throw e;
    }
  }
}

/** Sets `user`'s password to a new random one; writes it to --secret-out (0600) or prints it. */
async function addUser(args: Parsed, user: string, what: string): Promise<number> {
  const path = requireOpt(args, 'passwd');
  const password = randomPassword();
  const hash = hashPassword(password);
  let existed = false;
  await editPasswd(path, (text) => {
    existed = parsePasswordFile(text).has(user);
    return withUser(text, user, hash);
  });
  const out = str(args.values['secret-out']);
  if (out !== undefined) {
    try {
      writeFileSync(out, `${password}\n`, { mode: 0o600 });
    } catch (e) {
      throw new CliError(`the password of ${user} was set, but ${out} could not be written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): run the command again`, EXIT.failure);
    }
  }
  if (args.values.json === true) console.log(JSON.stringify({ user, passwordFile: path, added: !existed, ...(out !== undefined ? { secretFile: out } : { password }) }));
  else if (out === undefined) console.log(password);
  console.error(`${existed ? 'new password for' : 'added'} ${what} ${user} in ${path}${out !== undefined ? `; its password is in ${out}` : ''}. Reload the broker to apply it (systemctl reload mosquitto).`);
  return EXIT.ok;
}

const PASSWD_HELP = `  --passwd FILE       the Mosquitto password file to change (made when missing, mode 0640; keep its owner
                      root:mosquitto so the broker can read it)
  --secret-out FILE   write the new password there (mode 0600) instead of printing it
  --json              print {"user", "passwordFile", "added", "password" or "secretFile"} as one JSON line`;

const addDevice: Command = {
  name: 'broker add-device',
  summary: "give a device its own broker login (user = device id), in a Mosquitto password file",
  usage: `Usage: fota broker add-device DEVICE-ID --passwd FILE [--secret-out FILE]

Adds the device to a Mosquitto password file with a new random password (or gives it a new one). With the shipped
configuration (deploy/mosquitto/) or \`fota hub --mqtt-passwd FILE\`, the device then logs in with its device id
as user name and can use only its own topics. Put the password on the device (broker.username = DEVICE-ID,
broker.passwordFile = the file holding it) and reload the broker.

Options:
${PASSWD_HELP}

Example:
  fota broker add-device board-17 --passwd /etc/mosquitto/fota/devices.passwd --secret-out board-17.secret`,
  options: { passwd: { type: 'string' }, 'secret-out': { type: 'string' }, json: { type: 'boolean' } },
  positionals: { min: 1, max: 1 },
  async run(args) {
    const id = args.positionals[0] as string;
    if (!isValidEndpoint(id)) throw usageError(`"${id}" is not a device id: use 1-128 characters A-Z a-z 0-9 . _ : - starting with a letter or digit`);
    if (id === HUB_USER) throw usageError(`"${HUB_USER}" is the hub's user name, not a device's; use fota broker add-hub for it`);
    return addUser(args, id, 'device');
  },
};

const addHub: Command = {
  name: 'broker add-hub',
  summary: 'give the hub (or an operator) a broker login, in a Mosquitto password file',
  usage: `Usage: fota broker add-hub [NAME] --passwd FILE [--secret-out FILE]

Adds the hub's user (default ${HUB_USER}, the user of the shipped hub ACL) to a Mosquitto password file with a new
random password. The hub logs in with it (--username ${HUB_USER}, the password in $FOTA_BROKER_PASSWORD), and so do
operators' \`fota device\` commands. Another NAME needs its own block in the hub ACL (fota broker acl --for hub).

Options:
${PASSWD_HELP}

Example:
  fota broker add-hub --passwd /etc/mosquitto/fota/hub.passwd --secret-out /etc/fota/broker-password`,
  options: { passwd: { type: 'string' }, 'secret-out': { type: 'string' }, json: { type: 'boolean' } },
  positionals: { min: 0, max: 1 },
  async run(args) {
    const name = args.positionals[0] ?? HUB_USER;
    if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(name)) throw usageError(`"${name}" cannot be a user name: use 1-64 characters A-Z a-z 0-9 . _ @ - starting with a letter or digit`);
    return addUser(args, name, 'hub user');
  },
};

const remove: Command = {
  name: 'broker remove',
  summary: 'take a device (or hub user) out of a Mosquitto password file',
  usage: `Usage: fota broker remove NAME --passwd FILE

Removes NAME's login. After a reload the broker refuses it; a session open now ends at the next reload of a
broker that re-checks sessions (Mosquitto does).

Options:
  --passwd FILE   the Mosquitto password file
  --json          print {"user", "passwordFile", "removed": true} as one JSON line

Example:
  fota broker remove board-17 --passwd /etc/mosquitto/fota/devices.passwd`,
  options: { passwd: { type: 'string' }, json: { type: 'boolean' } },
  positionals: { min: 1, max: 1 },
  async run(args) {
    const name = args.positionals[0] as string;
    const path = requireOpt(args, 'passwd');
    await editPasswd(path, (text) => withUser(text, name, null));
    if (args.values.json === true) console.log(JSON.stringify({ user: name, passwordFile: path, removed: true }));
    console.error(`removed ${name} from ${path}. Reload the broker to apply it (systemctl reload mosquitto).`);
    return EXIT.ok;
  },
};

const acl: Command = {
  name: 'broker acl',
  summary: 'print the fota broker ACL (Mosquitto acl_file) for the devices or the hub',
  usage: `Usage: fota broker acl --for devices|hub [--prefix P] [--hub-user NAME]…

Prints the Mosquitto acl_file text: for the devices' listener (each device its own topics) or for the hub's
listener (the hub's user: every device's topics). deploy/mosquitto/ holds both for the default prefix.

Options:
  --for devices|hub   which ACL
  --prefix P          topic prefix (default ${DEFAULT_TOPIC_PREFIX})
  --hub-user NAME     a user of the hub ACL (repeatable; default ${HUB_USER})

Example:
  fota broker acl --for devices --prefix acme/fleet > /etc/mosquitto/fota/devices.acl`,
  options: { for: { type: 'string' }, prefix: { type: 'string' }, 'hub-user': { type: 'string', multiple: true } },
  async run(args) {
    const which = requireOpt(args, 'for');
    const prefix = str(args.values.prefix) ?? DEFAULT_TOPIC_PREFIX;
    if (!PREFIX_RE.test(prefix)) throw usageError(`--prefix "${prefix}" is not a valid topic prefix`);
    const users = (args.values['hub-user'] as string[] | undefined) ?? [HUB_USER];
    if (which === 'devices') process.stdout.write(devicesAcl(prefix));
    else if (which === 'hub') process.stdout.write(hubAcl(prefix, users));
    else throw usageError(`--for must be devices or hub (got "${which}")`);
    return EXIT.ok;
  },
};

export const BROKER_COMMANDS: Command[] = [addDevice, addHub, remove, acl];
