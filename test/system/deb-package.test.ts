// npm run package:deb, checked as Debian checks packages (lintian, systemd-analyze on the unit it ships) and used as
// Debian users use it: apt install, an edited configuration across an upgrade, apt remove, apt purge — with the real
// dpkg, apt and maintainer scripts (deb-systemd-helper, deb-systemd-invoke) on a test board: a copy-on-write clone of
// this machine (test/helpers/ssh-target.ts), so the host's dpkg database is never touched. systemctl there is the
// stand-in of the install.sh tests (start runs ExecStart= with --check); systemd itself is the virtual board's part.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sim-device.js';
import { startBoard, type Board } from '../helpers/ssh-target.js';

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
let out: string;
let deb: string;
let next: string;
let board: Board | undefined;

beforeAll(async () => {
  // not under /tmp: the test board mounts a /tmp of its own, and sees the rest of this machine
  out = await mkdtemp('/var/tmp/fota-deb-test-');
  await run(process.execPath, [join(ROOT, 'scripts/package-deb.mjs')], { env: { ...process.env, FOTA_DEB_OUT: out } });
  await run(process.execPath, [join(ROOT, 'scripts/package-deb.mjs')], { env: { ...process.env, FOTA_DEB_OUT: out, FOTA_DEB_VERSION: `${pkg.version}+next` } });
  deb = join(out, `fota-agent_${pkg.version}_all.deb`);
  next = join(out, `fota-agent_${pkg.version}+next_all.deb`);
}, 120_000);
afterAll(async () => rm(out, { recursive: true, force: true }));
afterEach(async () => {
  await board?.stop();
  board = undefined;
});

/** a configuration the agent accepts on the test board (a U-Boot board booted from slot A) */
const GOOD = JSON.stringify({ deviceId: 'deb-1', broker: { url: 'mqtt://10.0.0.5:1883' }, platform: { name: 'uboot', options: { slots: { A: '/dev/mmcblk0p2', B: '/dev/mmcblk0p3' }, firmwareVersionFile: '/etc/os-release' } }, allowUnsigned: true });
// man-db's trigger rebuilds the whole manual index after each dpkg run (minutes on 2 busy cores): not what is tested
const QUIET_APT = { missing: ['/var/lib/man-db/auto-update'] };
const APT = 'DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold';

async function sh(b: Board, script: string): Promise<string> {
  const r = await b.sh(script);
  // dpkg writes through a pty under apt (Dpkg::Use-Pty): CR LF line ends
  const text = (r.stdout + r.stderr).replace(/\r\n/g, '\n');
  if (r.code !== 0) throw new Error(`board: ${script}\nexit ${r.code}\n${text}`);
  return text;
}
const status = async (b: Board) => (await b.sh("dpkg-query -W -f='${db:Status-Abbrev}' fota-agent")).stdout.trim();

describe('fota-agent_<version>_all.deb', () => {
  it('is clean for lintian and declares what a board needs', async () => {
    // lintian exits non-zero on tags; a lintian that cannot run at all (ENOENT) must fail the test, not pass it empty
    const { stdout, stderr } = await run('lintian', ['--tag-display-limit', '0', deb]).catch((e: { code?: unknown; stdout?: string; stderr?: string }) => {
      if (typeof e.code !== 'number') throw new Error(`lintian did not run (${String(e.code)}): .ci/run installs it`);
      return { stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    });
    expect(stdout + stderr).not.toMatch(/command not found/);
    expect((stdout + stderr).split('\n').filter((l) => /^[EW]: /.test(l))).toEqual([]);
    const field = async (f: string) => (await run('dpkg-deb', ['-f', deb, f])).stdout.trim();
    expect(await field('Architecture')).toBe('all');
    expect(await field('Depends')).toBe('nodejs (>= 18.18), libubootenv-tool');
    expect((await run('dpkg-deb', ['--ctrl-tarfile', deb]).then(() => run('sh', ['-c', `dpkg-deb -I '${deb}' conffiles`]))).stdout.trim()).toBe('/etc/fota/agent.json');
  });

  it('ships the repository unit, pointed at the packaged agent, and systemd-analyze verifies it', async () => {
    const dir = join(out, 'x');
    await run('dpkg-deb', ['-x', deb, dir]);
    const unit = readFileSync(join(dir, 'lib/systemd/system/fota-agent.service'), 'utf8');
    expect(unit).toBe(readFileSync(join(ROOT, 'systemd/fota-agent.service'), 'utf8').replaceAll('/opt/fota/fota-agent.mjs', '/usr/lib/fota-agent/fota-agent.mjs'));
    const v = await run('systemd-analyze', ['verify', join(dir, 'lib/systemd/system/fota-agent.service')]);
    expect(v.stdout + v.stderr).toBe('');
    expect(readFileSync(join(dir, 'usr/lib/fota-agent/fota-agent.mjs'))).toEqual(readFileSync(join(ROOT, 'dist/agent/fota-agent.mjs')));
  });

  it('apt install: installs and enables the unit; with the template configuration it does not start it and says what to do', async () => {
    const b = (board = await startBoard(QUIET_APT));
    const log = await sh(b, `${APT} install ${deb} 2>&1`);
    expect(await status(b)).toBe('ii');
    expect(log).toContain('fota-agent: not started: fota-agent: configuration error in /etc/fota/agent.json: deviceId: is required\nfota-agent: edit /etc/fota/agent.json');
    expect(log).not.toContain('deb-systemd-helper: error');
    expect(await b.read('/etc/fota/agent.json')).toBe(readFileSync(join(ROOT, 'packaging/deb/agent.json'), 'utf8'));
    // enabled by deb-systemd-helper itself (its symlink and state), not by systemctl
    expect((await sh(b, 'readlink /etc/systemd/system/multi-user.target.wants/fota-agent.service')).trim()).toBe('/lib/systemd/system/fota-agent.service');
    expect(await b.systemctl()).not.toContainEqual(expect.stringMatching(/(^| )(start|restart) /));
    expect((await sh(b, 'fota-agent --version')).trim()).toBe(pkg.version);
  });

  it('apt install with a configuration already in place (an image build): keeps it and starts the agent', async () => {
    const b = (board = await startBoard(QUIET_APT));
    await sh(b, `mkdir -p /etc/fota && printf '%s' '${GOOD}' > /etc/fota/agent.json`);
    await sh(b, `${APT} install ${deb} 2>&1`);
    expect(await b.read('/etc/fota/agent.json')).toBe(GOOD);
    expect(await b.systemctl()).toContainEqual('--quiet --system start fota-agent.service');
    expect(await b.read('/var/lib/fota-test/systemd/fota-agent.service.out')).toMatch(/configuration OK: device deb-1/);
  });

  it('an upgrade keeps the edited configuration without asking and restarts the agent', async () => {
    const b = (board = await startBoard(QUIET_APT));
    await sh(b, `${APT} install ${deb} 2>&1`);
    await sh(b, `printf '%s' '${GOOD}' > /etc/fota/agent.json`);
    // plain dpkg, no --force-conf*: dpkg itself must see that only the administrator changed the file
    await sh(b, `DEBIAN_FRONTEND=noninteractive dpkg -i ${next} </dev/null 2>&1`);
    expect((await b.sh("dpkg-query -W -f='${Version}' fota-agent")).stdout).toBe(`${pkg.version}+next`);
    expect(await b.read('/etc/fota/agent.json')).toBe(GOOD);
    expect(await b.systemctl()).toContainEqual('--quiet --system restart fota-agent.service');
  });

  it('apt remove stops the agent and keeps configuration and state; apt purge deletes them', async () => {
    const b = (board = await startBoard(QUIET_APT));
    await sh(b, `mkdir -p /etc/fota && printf '%s' '${GOOD}' > /etc/fota/agent.json`);
    await sh(b, `${APT} install ${deb} 2>&1`);
    await sh(b, 'mkdir -p /var/lib/fota-agent && echo saved > /var/lib/fota-agent/state.json');
    await sh(b, `${APT} remove fota-agent 2>&1`);
    expect(await status(b)).toBe('rc');
    expect(await b.systemctl()).toContainEqual(expect.stringMatching(/(^| )stop fota-agent\.service$/));
    expect(await b.read('/usr/lib/fota-agent/fota-agent.mjs')).toBeUndefined();
    expect(await b.read('/lib/systemd/system/fota-agent.service')).toBeUndefined();
    expect(await b.read('/etc/fota/agent.json')).toBe(GOOD);
    expect(await b.read('/var/lib/fota-agent/state.json')).toBe('saved\n');

    await sh(b, `${APT} purge fota-agent 2>&1`);
    expect(await status(b)).toBe('');
    expect((await b.sh('ls -d /etc/fota /var/lib/fota-agent /etc/systemd/system/multi-user.target.wants/fota-agent.service /var/lib/systemd/deb-systemd-helper-enabled/fota-agent.service.dsh-also 2>&1')).stdout.match(/No such file/g)?.length).toBe(4);
  });
});
