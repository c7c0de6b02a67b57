// A board for the install.sh tests: a real OpenSSH sshd on a free loopback port, chrooted into a copy-on-write
// clone of this machine's root (overlayfs in a private mount namespace: nothing it writes reaches the host, and it
// all disappears with the namespace). Real sudo, users, sh, tar, coreutils, Node, and fw_printenv on a real U-Boot
// environment; what a scenario needs is changed in the clone only: a missing or old Node, no sudo, a tiny /opt, a
// missing tool, no systemd.
// systemd cannot be PID 1 here: test/helpers/fake-systemctl.sh stands in for systemctl (see its header).
// Needs root (mount namespaces, overlayfs), sshd, sudo and nsenter (.ci/run installs them).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import net from 'node:net';
import { promisify } from 'node:util';
import { initialEnv } from '../../platform/uboot/ab-scheme.js';
import { freePort } from './mosquitto.js';

const run = promisify(execFile);
const HERE = dirname(new URL(import.meta.url).pathname);

export interface BoardOptions {
  /** Node where systemd looks (/usr/bin/node): the host's, none, a fake of another version, or the Node 18 of a
   *  file-system layer laid over the board's root (scripts/node18.sh --root: Debian bookworm's nodejs 18) */
  node?: 'host' | 'none' | { fakeVersion: string } | { layer: string };
  /** systemd as init (/run/systemd/system and systemctl present; default true) */
  systemd?: boolean;
  /** absolute paths removed from the board (overlay whiteouts), e.g. /usr/bin/fw_setenv */
  missing?: string[];
  /** size of the file system mounted at /opt (default 64 MiB) */
  optKiB?: number;
}

/**
 * Every board is a U-Boot A/B board booted from slot A, as the uboot platform sees one: a U-Boot environment made
 * by mkenvimage in /boot/firmware/uboot.env (described by /etc/fw_env.config) and fota.slot=A on /proc/cmdline.
 */
export const BOARD_CMDLINE = 'console=serial0,115200 root=/dev/mmcblk0p2 rootwait fota.slot=A';

export interface Board {
  port: number;
  /** ssh_config for install.sh --ssh-config: known host key, the test key, batch mode */
  sshConfig: string;
  identity: string;
  /** runs `sh -c script` as root inside the board (its file system view) */
  sh(script: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** a file of the board, or undefined when it does not exist */
  read(path: string): Promise<string | undefined>;
  /** the systemctl calls made so far */
  systemctl(): Promise<string[]>;
  stop(): Promise<void>;
}

// the board's users: root, pi (passwordless sudo, as on Raspberry Pi OS) and nosudo
const USERS = [
  { name: 'pi', uid: 4201, sudo: true },
  { name: 'nosudo', uid: 4202, sudo: false },
];

const SETUP = `
set -e
base=$1 optkib=$2 systemd=$3 layer=$4
m=$base/merged
lower=/
if [ -n "$layer" ]; then
  # a layer inside / would overlap it (overlayfs refuses: ELOOP): copy it onto a file system of its own first
  mkdir -p $base/layer && mount -t tmpfs tmpfs $base/layer && cp -a $layer/. $base/layer/
  lower=$base/layer:/
fi
mount -t overlay overlay -o lowerdir=$lower,upperdir=$base/upper,workdir=$base/work $m
# a /dev of its own, as on a Pi: the usual nodes, a pty instance for sudo, and the SD card's partitions (nodes of a
# card that is not there: the agent's configuration check finds them, nothing can open them)
mount -t tmpfs -o mode=0755 tmpfs $m/dev
for n in null zero full random urandom tty; do touch $m/dev/$n; mount --bind /dev/$n $m/dev/$n; done
mkdir -p $m/dev/pts $m/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $m/dev/pts
ln -s pts/ptmx $m/dev/ptmx
ln -s /proc/self/fd $m/dev/fd; ln -s /proc/self/fd/0 $m/dev/stdin; ln -s /proc/self/fd/1 $m/dev/stdout; ln -s /proc/self/fd/2 $m/dev/stderr
for i in 0 1 2 3; do mknod $m/dev/mmcblk0p$i b 179 $i; done
mv $m/dev/mmcblk0p0 $m/dev/mmcblk0
mount -t proc proc $m/proc
mount -t tmpfs -o mode=0755 tmpfs $m/run
mount -t tmpfs -o mode=1777 tmpfs $m/tmp
mount -t tmpfs -o mode=0755,size=\${optkib}k tmpfs $m/opt
mkdir -p $m/run/sshd $m/run/lock
mount --bind $base/cmdline $m/proc/cmdline
[ "$systemd" = 1 ] && mkdir -p $m/run/systemd/system
exec chroot $m /usr/sbin/sshd -D -e -f /etc/fota-test/sshd_config
`;

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

export async function startBoard(o: BoardOptions = {}): Promise<Board> {
  const base = await mkdtemp(join(tmpdir(), 'fota-board-'));
  const up = (p: string) => join(base, 'upper', p);
  const put = (p: string, text: string, mode = 0o644) => {
    mkdirSync(dirname(up(p)), { recursive: true });
    writeFileSync(up(p), text);
    chmodSync(up(p), mode);
  };
  for (const d of ['upper', 'work', 'merged']) mkdirSync(join(base, d));
  const port = await freePort();
  // keys: the board's host key and the test's login key
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(base, 'host_key')]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(base, 'id_ed25519')]);
  const hostPub = readFileSync(join(base, 'host_key.pub'), 'utf8').trim();
  const loginPub = readFileSync(join(base, 'id_ed25519.pub'), 'utf8');
  put('etc/fota-test/host_key', readFileSync(join(base, 'host_key'), 'utf8'), 0o600);
  put(
    'etc/fota-test/sshd_config',
    [`Port ${port}`, 'ListenAddress 127.0.0.1', 'HostKey /etc/fota-test/host_key', 'PidFile none', 'UsePAM no', 'AuthorizedKeysFile /etc/fota-test/authorized_keys/%u',
      'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password', 'StrictModes no', 'PrintMotd no', 'LogLevel ERROR', ''].join('\n'),
  );
  for (const u of ['root', ...USERS.map((x) => x.name)]) put(`etc/fota-test/authorized_keys/${u}`, loginPub);
  // users: the host's files plus ours ('*': no password, yet not locked, so key logins work with UsePAM no)
  put('etc/passwd', readFileSync('/etc/passwd', 'utf8') + USERS.map((u) => `${u.name}:x:${u.uid}:${u.uid}::/home/${u.name}:/bin/sh\n`).join(''));
  put('etc/group', readFileSync('/etc/group', 'utf8') + USERS.map((u) => `${u.name}:x:${u.uid}:\n`).join(''));
  put('etc/shadow', readFileSync('/etc/shadow', 'utf8') + USERS.map((u) => `${u.name}:*:19000:0:99999:7:::\n`).join(''), 0o640);
  put('etc/sudoers.d/fota-test', USERS.filter((u) => u.sudo).map((u) => `${u.name} ALL=(ALL) NOPASSWD: ALL\n`).join(''), 0o440);
  for (const u of USERS) mkdirSync(up(`home/${u.name}`), { recursive: true });
  // the fake systemctl's call log, writable by the login users' own calls (the check runs systemctl --version)
  mkdirSync(up('var/log/fota-test'), { recursive: true });
  chmodSync(up('var/log/fota-test'), 0o1777);
  for (const u of USERS) await run('chown', [`${u.uid}:${u.uid}`, up(`home/${u.name}`)]);
  if (o.systemd !== false) put('usr/bin/systemctl', readFileSync(join(HERE, 'fake-systemctl.sh'), 'utf8'), 0o755);
  // a container's "deny every service start" policy (Docker images ship one) is not what a board has
  const hide = [...(o.missing ?? []), ...(existsSync('/usr/sbin/policy-rc.d') ? ['/usr/sbin/policy-rc.d'] : [])];
  if (o.systemd === false) hide.push('/usr/bin/systemctl');
  const node = o.node ?? 'host';
  if (node === 'none') hide.push('/usr/bin/node', '/usr/local/bin/node');
  else if (node !== 'host' && 'fakeVersion' in node) {
    put('usr/bin/node', `#!/bin/sh\ncase "$*" in *process.versions.node*) echo ${node.fakeVersion} ;; --version) echo v${node.fakeVersion} ;; *) exit 1 ;; esac\n`, 0o755);
  }
  const layer = node !== 'host' && node !== 'none' && 'layer' in node ? node.layer : '';
  // an overlay whiteout (a 0/0 character device in the upper layer) hides the lower file
  for (const p of hide) {
    mkdirSync(dirname(up(p.slice(1))), { recursive: true });
    await run('mknod', [up(p.slice(1)), 'c', '0', '0']);
  }

  // U-Boot: the environment as a board ships it, and the kernel command line of slot A
  writeFileSync(join(base, 'env.txt'), Object.entries(initialEnv()).map(([k, v]) => `${k}=${v}\n`).join(''));
  mkdirSync(up('boot/firmware'), { recursive: true });
  await run('mkenvimage', ['-s', '0x4000', '-o', up('boot/firmware/uboot.env'), join(base, 'env.txt')]);
  put('etc/fw_env.config', '/boot/firmware/uboot.env 0x0 0x4000\n');
  writeFileSync(join(base, 'cmdline'), `${BOARD_CMDLINE}\n`);

  writeFileSync(join(base, 'known_hosts'), `[127.0.0.1]:${port} ${hostPub}\n`);
  const sshConfig = join(base, 'ssh_config');
  writeFileSync(sshConfig, ['Host *', `  UserKnownHostsFile ${join(base, 'known_hosts')}`, '  StrictHostKeyChecking yes', `  IdentityFile ${join(base, 'id_ed25519')}`, '  IdentitiesOnly yes', '  BatchMode yes', '  LogLevel ERROR', ''].join('\n'));

  const child: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', SETUP, 'setup', base, String(o.optKiB ?? 65536), o.systemd === false ? '0' : '1', layer], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const end = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > end) {
      child.kill('SIGKILL');
      await rm(base, { recursive: true, force: true });
      throw new Error(`the test board's sshd did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  const sh = async (script: string) => {
    try {
      const { stdout, stderr } = await run('nsenter', ['-t', String(child.pid), '-m', '--', 'chroot', join(base, 'merged'), 'sh', '-c', script]);
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    }
  };
  return {
    port,
    sshConfig,
    identity: join(base, 'id_ed25519'),
    sh,
    read: async (path) => {
      const r = await sh(`cat -- '${path}'`);
      return r.code === 0 ? r.stdout : undefined;
    },
    systemctl: async () => ((await sh('cat /var/log/fota-test/systemctl.log 2>/dev/null')).stdout.split('\n').filter(Boolean)),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      await rm(base, { recursive: true, force: true });
    },
  };
}
