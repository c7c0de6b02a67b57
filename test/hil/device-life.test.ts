// One board's life with fota, in order: install over SSH with install.sh (the project's systemd unit, the bundled
// agent on Debian's Node 18, platform uboot with fw_setenv on /dev/vda), then hub jobs: a good update with a trial
// boot and commit, and a broken image rolled back by U-Boot. Every scenario checks the hub's job record, the
// agent's Update Result, the environment read from the host with fw_printenv, and which slot booted.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { JobRecord } from '../../hub/jobs/job-model.js';
import { freePort } from '../helpers/mosquitto.js';
import { requireBuild, ROOT, workspace, type Workspace } from '../helpers/sim-device.js';
import { GUEST_HOST, QemuBoard } from './board/qemu-board.js';
import { scenarioClock } from './board/scenario-clock.js';
import { readSlot } from './board/slot-image.js';
import { finished as jobEnded, firmwareJob as schedule, pack as packSlot, registered, startFleet, type Fleet } from './fleet.js';

const run = promisify(execFile);
const image = inject('hilImage');
const BOOT_MS = 600_000;
const DEVICE = 'hil-board';
const PKG_PORT = 8080;

let ws: Workspace;
let dir: string;
let fleet: Fleet;
let board: QemuBoard;
let jobs = 0;

async function slot(): Promise<string> {
  return /fota\.slot=([AB])/.exec(await board.ssh('cat /proc/cmdline'))?.[1] ?? '?';
}

async function version(): Promise<string> {
  return (await board.ssh('cat /etc/fota/firmware-version')).trim();
}

/** A package of the board's slot A as install.sh left it (the agent installed), with firmware version `v`. */
async function pack(name: string, v: string, opts: { broken?: boolean } = {}): Promise<string> {
  return packSlot(ws, dir, join(dir, 'installed-a.img'), name, v, 'fota-hil', opts);
}

async function firmwareJob(pkg: string): Promise<string> {
  const jobId = `hil-${++jobs}`;
  schedule(fleet, DEVICE, jobId, pkg, `http://${GUEST_HOST}:${PKG_PORT}`);
  return jobId;
}

async function finished(jobId: string, ms: number): Promise<JobRecord> {
  return jobEnded(fleet, jobId, DEVICE, ms);
}

async function agentJournal(): Promise<string> {
  return board.ssh('journalctl -u fota-agent --no-pager -o cat | tail -n 80').catch((e: Error) => e.message);
}

// null only when a developer opted out with FOTA_HIL=0; global-setup.ts refuses that in CI
describe.skipIf(image === null)('a board with fota, from install to rollback (virtual board)', () => {
  scenarioClock(() => board);

  beforeAll(async () => {
    requireBuild();
    ws = await workspace();
    dir = await mkdtemp(join(tmpdir(), 'fota-hil-life-'));
    fleet = await startFleet(dir);
    board = await QemuBoard.create({ image: image!, dir, sshPort: await freePort(), forwards: [{ guestPort: 1883, hostPort: fleet.brokerPort }, { guestPort: PKG_PORT, hostPort: fleet.pkgPort }] });
    board.powerOn();
    await board.waitBooted(0, BOOT_MS);
  }, BOOT_MS + 120_000);

  afterAll(async () => {
    await board?.stop();
    await fleet?.close();
    await ws?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('1. install.sh over SSH: the service is active and the device registers with the hub', async () => {
    const config = join(dir, 'agent.json');
    await writeFile(config, JSON.stringify({
      deviceId: DEVICE,
      broker: { url: `mqtt://${GUEST_HOST}:1883` },
      platform: { name: 'uboot', options: { slots: { A: '/dev/vda2', B: '/dev/vda3' }, fwSetenv: '/usr/local/sbin/fw_setenv-hil' } },
      trustedKeys: ['/etc/fota/keys/release.pub'],
      device: { deviceType: 'fota-hil' },
    }, null, 2));
    const sshConfig = join(dir, 'ssh_config');
    await writeFile(sshConfig, ['Host *', '  StrictHostKeyChecking no', '  UserKnownHostsFile /dev/null', '  LogLevel ERROR', '  IdentitiesOnly yes', ''].join('\n'));
    const args = ['--port', String(board.opts.sshPort), '--identity', image!.key, '--ssh-config', sshConfig, '--config', config, '--trusted-key', ws.pub, 'root@127.0.0.1'];
    const { stdout } = await run(join(ROOT, 'install.sh'), args, { timeout: 600_000 }).catch(async (e: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(`install.sh failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}\n--- journal ---\n${await agentJournal()}`);
    });
    expect(stdout).toMatch(/active|running/i);
    expect((await board.ssh('systemctl is-active fota-agent')).trim()).toBe('active');
    expect((await board.ssh('node --version')).trim()).toBe('v18.20.4');
    await registered(fleet, DEVICE, 300_000);
    expect(await slot()).toBe('A');
    expect(await board.env()).toMatchObject({ boot_part: 'A', upgrade_available: '0' });
    // the firmware images of the next scenarios are this very slot: the agent as install.sh put it there
    await board.shutdown();
    await readSlot(board.disk, 'A', join(dir, 'installed-a.img'));
    const on = board.console.length;
    board.powerOn();
    await board.waitBooted(on, BOOT_MS);
  }, 1_200_000);

  it('2. firmware job: download, trial boot of slot B, health check, commit (Update Result 1, job Completed)', async () => {
    const jobId = await firmwareJob(await pack('v2', '2.0.0'));
    const from = board.console.length;
    const child = await finished(jobId, 1_500_000);
    expect(child, await agentJournal()).toMatchObject({ Status: 'Completed', UpdateResult: 1, FirmwareVersionBefore: '1.0.0', FirmwareVersionAfter: '2.0.0' });
    expect(board.boots(from).map((b) => b.slot)).toEqual(['B']);
    expect(await slot()).toBe('B');
    expect(await version()).toBe('2.0.0');
    expect(await board.env()).toMatchObject({ boot_part: 'B', upgrade_available: '0', bootcount: '0' });
  }, 1_800_000);

  it('3. broken image: three trial boots, U-Boot falls back, Update Result 8, job Failed, back on 2.0.0', async () => {
    const jobId = await firmwareJob(await pack('broken', '3.0.0', { broken: true }));
    const from = board.console.length;
    const child = await finished(jobId, 1_500_000);
    expect(child).toMatchObject({ Status: 'Failed', UpdateResult: 8, FirmwareVersionBefore: '2.0.0' });
    expect(child.StatusMessage).toMatch(/boot/i);
    expect(board.boots(from).map((b) => b.slot)).toEqual(['A', 'A', 'A', 'B']);
    expect(board.console.slice(from).match(/Attempted to kill init/g)?.length).toBe(3);
    expect(await slot()).toBe('B');
    expect(await version()).toBe('2.0.0');
    expect(await board.env()).toMatchObject({ boot_part: 'B', upgrade_available: '0', bootcount: '0' });
  }, 1_800_000);
});
