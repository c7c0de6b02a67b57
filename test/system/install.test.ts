// install.sh against a real sshd (test/helpers/ssh-target.ts: a copy-on-write clone of this machine as the board,
// with real sudo, users, Node and tools). What this proves: the checks and each failure path (nothing changes on
// the board), the files and modes it installs, the configuration policy, upgrade in place, --dry-run, --uninstall
// removing exactly what it installed, the systemctl calls, and that the installed agent runs on the board's Node with
// the installed configuration (the fake systemctl runs ExecStart= with --check). What it does not prove: systemd
// itself (Type=notify start-up, watchdog, restarts) — the virtual board (test/hil/) runs the unit under real systemd.
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/mosquitto.js';
import { ROOT } from '../helpers/sim-device.js';
import { startBoard, type Board, type BoardOptions } from '../helpers/ssh-target.js';

const INSTALL = join(ROOT, 'install.sh');
const ARTIFACT = join(ROOT, 'dist/agent');
let tmp: string;
let board: Board | undefined;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'fota-install-'));
  // a U-Boot Pi as a user would describe it; --check validates it without touching the devices
  writeFileSync(join(tmp, 'pi.json'), JSON.stringify({ deviceId: 'pi-1', broker: { url: 'mqtt://10.0.0.5:1883', username: 'pi-1', password: 'broker-s3cret' }, platform: { name: 'uboot', options: { slots: { A: '/dev/mmcblk0p2', B: '/dev/mmcblk0p3' }, firmwareVersionFile: '/etc/os-release' } }, trustedKeys: ['/etc/fota/keys/release.pub'] }));
  await new Promise<void>((resolve, reject) => execFile(process.execPath, [join(ROOT, 'bin/fota.js'), 'keygen', '-o', join(tmp, 'release')], (e) => (e ? reject(e) : resolve())));
});
afterAll(async () => rm(tmp, { recursive: true, force: true }));
afterEach(async () => {
  await board?.stop();
  board = undefined;
});

interface Run {
  code: number;
  out: string;
}
function install(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(INSTALL, args, { env: { ...process.env, ...env }, timeout: 60_000 }, (e, stdout, stderr) => {
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}
async function boardWith(o: BoardOptions = {}): Promise<Board> {
  board = await startBoard(o);
  return board;
}
const to = (b: Board, user = 'pi') => ['--ssh-config', b.sshConfig, '--port', String(b.port), `${user}@127.0.0.1`];
const piInstall = (b: Board, extra: string[] = []) => install(['--config', join(tmp, 'pi.json'), '--trusted-key', join(tmp, 'release.pub'), ...extra, ...to(b)]);

/** nothing of fota on the board, and systemctl asked nothing but its version */
async function untouched(b: Board): Promise<void> {
  expect((await b.sh('ls -A /opt; ls /etc/fota /etc/systemd/system/fota-agent.service 2>/dev/null; ls /var/tmp | grep fota-install || true')).stdout).toBe('');
  expect((await b.systemctl()).filter((c) => c !== '--version')).toEqual([]);
}

describe('install.sh', () => {
  it('installs the agent, its configuration and key, and the unit; enables and starts it; says how to follow the log', async () => {
    const b = await boardWith();
    const r = await piInstall(b);
    expect(r.out).toContain('ok    access     pi with sudo');
    expect(r.code).toBe(0);
    expect(await b.read('/opt/fota/fota-agent.mjs')).toBe(readFileSync(join(ARTIFACT, 'fota-agent.mjs'), 'utf8'));
    expect(await b.read('/etc/systemd/system/fota-agent.service')).toBe(readFileSync(join(ROOT, 'systemd/fota-agent.service'), 'utf8'));
    expect(await b.read('/etc/fota/agent.json')).toBe(readFileSync(join(tmp, 'pi.json'), 'utf8'));
    expect(await b.read('/etc/fota/keys/release.pub')).toBe(readFileSync(join(tmp, 'release.pub'), 'utf8'));
    // the configuration may hold the broker password: root only
    expect((await b.sh('stat -c "%a %U" /etc/fota/agent.json /opt/fota/fota-agent.mjs')).stdout).toBe('600 root\n644 root\n');
    expect(await b.systemctl()).toEqual(['--version', 'daemon-reload', 'enable --quiet fota-agent.service', 'restart fota-agent.service', 'is-active fota-agent.service', 'show -p StatusText --value fota-agent.service']);
    expect((await b.sh('readlink /etc/systemd/system/multi-user.target.wants/fota-agent.service')).stdout.trim()).toBe('/etc/systemd/system/fota-agent.service');
    // the unit's ExecStart= ran on the board's Node with the installed configuration
    expect(await b.read('/var/lib/fota-test/systemd/fota-agent.service.out')).toMatch(/^configuration OK: device pi-1, platform uboot/m);
    expect(r.out).toContain('fota-agent is active');
    expect(r.out).toContain(`ssh -p ${b.port} pi@127.0.0.1 journalctl -u fota-agent -f`);
    // the device-side commands on the board's PATH
    expect((await b.sh('fota-agent --version')).stdout.trim()).toBe(JSON.parse(readFileSync(join(ARTIFACT, 'manifest.json'), 'utf8')).version);
  });

  it('upgrades in place on a second run: new agent, same configuration, restarted', async () => {
    const b = await boardWith();
    expect((await piInstall(b)).code).toBe(0);
    const next = join(tmp, 'next');
    mkdirSync(next, { recursive: true });
    for (const f of ['fota-agent.service', 'manifest.json']) copyFileSync(join(ARTIFACT, f), join(next, f));
    writeFileSync(join(next, 'fota-agent.mjs'), readFileSync(join(ARTIFACT, 'fota-agent.mjs'), 'utf8') + '\n// next version\n');
    const r = await install(['--trusted-key', join(tmp, 'release.pub'), ...to(b)], { FOTA_AGENT_ARTIFACT: next });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/fota is installed \(version [\d.]+\): this run upgrades it in place/);
    expect(await b.read('/opt/fota/fota-agent.mjs')).toContain('// next version');
    expect(await b.read('/etc/fota/agent.json')).toBe(readFileSync(join(tmp, 'pi.json'), 'utf8'));
    expect((await b.systemctl()).filter((c) => c.startsWith('restart'))).toEqual(['restart fota-agent.service', 'restart fota-agent.service']);
  });

  it('never replaces a configuration on the board without --force, and keeps the old one when forced', async () => {
    const b = await boardWith();
    expect((await piInstall(b)).code).toBe(0);
    const other = join(tmp, 'other.json');
    writeFileSync(other, JSON.stringify({ ...JSON.parse(readFileSync(join(tmp, 'pi.json'), 'utf8')), deviceId: 'pi-2' }));
    const refused = await install(['--config', other, ...to(b)]);
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/step "configuration" failed .*\/etc\/fota\/agent.json exists and differs from the --config file\n {2}what to do: run again with --force/);
    expect(JSON.parse((await b.read('/etc/fota/agent.json'))!).deviceId).toBe('pi-1');
    const forced = await install(['--config', other, '--force', ...to(b)]);
    expect(forced.code).toBe(0);
    expect(JSON.parse((await b.read('/etc/fota/agent.json'))!).deviceId).toBe('pi-2');
    expect(JSON.parse((await b.read('/etc/fota/agent.json.old'))!).deviceId).toBe('pi-1');
  });

  it('--dry-run runs the checks and prints every step, changing nothing', async () => {
    const b = await boardWith();
    const r = await piInstall(b, ['--dry-run']);
    expect(r.code).toBe(0);
    for (const step of ['install trusted key /etc/fota/keys/release.pub', 'check the configuration with the new agent', 'install the agent in /opt/fota', 'install the configuration /etc/fota/agent.json', 'install the unit /etc/systemd/system/fota-agent.service', 'systemctl daemon-reload', 'systemctl enable fota-agent.service', 'systemctl restart fota-agent.service'])
      expect(r.out).toContain(`would: ${step}`);
    expect(r.out).toContain('Dry run: nothing was changed');
    await untouched(b);
  });

  it('--uninstall removes what it installed and nothing else', async () => {
    const b = await boardWith();
    expect((await piInstall(b)).code).toBe(0);
    await b.sh('mkdir -p /var/lib/fota-agent && echo state > /var/lib/fota-agent/state.json && echo mine > /etc/fota/notes.txt');
    const dry = await install(['--uninstall', '--dry-run', ...to(b)]);
    expect(dry.out).toContain('would: remove /opt/fota');
    expect(await b.read('/opt/fota/fota-agent.mjs')).toBeDefined();
    const r = await install(['--uninstall', ...to(b)]);
    expect(r.code).toBe(0);
    expect((await b.sh('ls -A /opt; ls /etc/fota; ls /etc/systemd/system/fota-agent.service /etc/systemd/system/multi-user.target.wants/fota-agent.service /usr/local/bin/fota-agent 2>&1 | grep -c "No such"')).stdout).toBe('notes.txt\n3\n');
    expect(await b.read('/var/lib/fota-agent/state.json')).toBe('state\n');
    expect(r.out).toContain('kept /var/lib/fota-agent');
    expect((await b.systemctl()).slice(-2)).toEqual(['disable --now --quiet fota-agent.service', 'daemon-reload']);
  });

  it('keeps a configuration it did not write, also on --uninstall', async () => {
    const b = await boardWith();
    await b.sh(`mkdir -p /etc/fota/keys && cp /dev/stdin /etc/fota/agent.json <<'EOF'\n${readFileSync(join(tmp, 'pi.json'), 'utf8')}\nEOF`);
    await b.sh(`cat > /etc/fota/keys/release.pub <<'EOF'\n${readFileSync(join(tmp, 'release.pub'), 'utf8')}EOF`);
    const r = await install(to(b));
    expect(r.out).toContain('keep /etc/fota/agent.json');
    expect(r.code).toBe(0);
    expect((await install(['--uninstall', ...to(b)])).out).toContain('kept /etc/fota/agent.json: install.sh did not write it');
    expect(await b.read('/etc/fota/agent.json')).toBeDefined();
  });

  it('without --config writes a starter configuration; when it is not enough, prints it and changes nothing', async () => {
    const b = await boardWith();
    const r = await install(['--trusted-key', join(tmp, 'release.pub'), ...to(b)]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('"deviceId": "');
    expect(r.out).toContain('"url": "mqtt://127.0.0.1:1883"');
    expect(r.out).toContain('"trustedKeys": ["/etc/fota/keys/release.pub"]');
    expect(r.out).toMatch(/step "configuration" failed on .*: the starter configuration is not enough for this board: .*platform\.options\.slots: is required/);
    await untouched(b);
  });

  it('installs on a board with Debian bookworm\'s own Node 18 (as Raspberry Pi OS bookworm has)', async () => {
    const layer = await new Promise<string>((resolve, reject) => execFile(join(ROOT, 'scripts/node18.sh'), ['--root'], { timeout: 300_000 }, (e, out) => (e ? reject(e) : resolve(out.trim()))));
    const b = await boardWith({ node: { layer } });
    const r = await piInstall(b);
    expect(r.out).toMatch(/ok {4}node {7}Node 18\.\d+\.\d+ at \/usr\/bin\/node/);
    expect(r.code).toBe(0);
    // the unit's ExecStart= (with its --jitless flags) ran the installed agent on that Node 18
    expect(await b.read('/var/lib/fota-test/systemd/fota-agent.service.out')).toMatch(/^configuration OK: device pi-1/m);
  });

  it('puts no secret on a command line: the configuration travels in the tar stream', async () => {
    const b = await boardWith();
    // every ssh the script runs logs its argv
    const bin = join(tmp, 'spy');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'ssh'), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${join(tmp, 'ssh-argv.log')}\nexec /usr/bin/ssh "$@"\n`);
    chmodSync(join(bin, 'ssh'), 0o755);
    const r = await install(['--config', join(tmp, 'pi.json'), '--trusted-key', join(tmp, 'release.pub'), ...to(b)], { PATH: `${bin}:${process.env.PATH}` });
    expect(r.code).toBe(0);
    const argv = readFileSync(join(tmp, 'ssh-argv.log'), 'utf8');
    expect(argv.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(4);
    expect(argv).not.toContain('broker-s3cret');
    expect(await b.read('/etc/fota/agent.json')).toContain('broker-s3cret');
  });
});

describe('install.sh refuses a board that cannot run the agent, says why and what to do, and changes nothing', () => {
  const cases: { name: string; board: BoardOptions; user?: string; step: RegExp; todo: RegExp }[] = [
    { name: 'no Node', board: { node: 'none' }, step: /FAIL {2}node {7}Node\.js is not installed/, todo: /sudo apt-get install nodejs \(debian bookworm ships a Node >= 18\.18\)/ },
    { name: 'an old Node', board: { node: { fakeVersion: '18.17.1' } }, step: /FAIL {2}node {7}Node 18\.17\.1 at \/usr\/bin\/node is older than 18\.18\.0/, todo: /apt-get install nodejs/ },
    { name: 'no sudo', board: {}, user: 'nosudo', step: /FAIL {2}access {5}nosudo is not root and cannot run sudo without a password/, todo: /--user root\), or give nosudo passwordless sudo/ },
    { name: 'no space', board: { optKiB: 512 }, step: /FAIL {2}space {6}\/opt\/fota has \d+ KiB free, the agent needs \d+ KiB/, todo: /free some space/ },
    { name: 'a missing tool', board: { missing: ['/usr/bin/fw_setenv'] }, step: /FAIL {2}tools {6}fw_setenv is missing \(platform uboot needs it\)/, todo: /apt-get install libubootenv-tool/ },
    { name: 'no systemd', board: { systemd: false }, step: /FAIL {2}systemd {4}systemd is not the init system here/, todo: /use a systemd-based OS/ },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const b = await boardWith(c.board);
      const r = await install(['--config', join(tmp, 'pi.json'), '--trusted-key', join(tmp, 'release.pub'), ...to(b, c.user)]);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(c.step);
      expect(r.out).toMatch(c.todo);
      expect(r.out).toContain('step "check" failed: the board did not pass the checks above; nothing was changed');
      await untouched(b);
    });
  }

  it('an unreachable board', async () => {
    const port = await freePort();
    const r = await install(['--port', String(port), 'pi@127.0.0.1']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/step "connect" failed: cannot log in to pi@127\.0\.0\.1 on port \d+: .*Connection refused/);
    expect(r.out).toMatch(/what to do: check that 127\.0\.0\.1 is up and reachable, sshd listens on port \d+/);
  });

  it('a tool the configuration names that the board lacks', async () => {
    const b = await boardWith();
    const custom = join(tmp, 'custom-tools.json');
    const c = JSON.parse(readFileSync(join(tmp, 'pi.json'), 'utf8'));
    c.platform.options.fwSetenv = '/usr/local/sbin/fw_setenv-board';
    writeFileSync(custom, JSON.stringify(c));
    const r = await install(['--config', custom, '--trusted-key', join(tmp, 'release.pub'), ...to(b)]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FAIL {2}tools {6}\/usr\/local\/sbin\/fw_setenv-board is missing \(platform uboot needs it\)\n.*what to do: sudo apt-get install libubootenv-tool/);
    await untouched(b);
  });

  it('a configuration the agent rejects', async () => {
    const b = await boardWith();
    const bad = join(tmp, 'bad.json');
    writeFileSync(bad, JSON.stringify({ deviceId: 'pi-1', platform: { name: 'uboot', options: { slots: { A: '/dev/mmcblk0p2', B: '/dev/mmcblk0p2' } } }, trustedKeys: ['/etc/fota/keys/release.pub'] }));
    const r = await install(['--config', bad, '--trusted-key', join(tmp, 'release.pub'), ...to(b)]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/step "configuration" failed on .*the --config file: platform\.options\.slots: .*A and B must be different devices/);
    await untouched(b);
  });
});
