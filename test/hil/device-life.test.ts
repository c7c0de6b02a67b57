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
import { requireBuild, ROOT, waitFor, workspace, type Workspace } from '../helpers/sim-device.js';
import { GUEST_HOST, QemuBoard } from './board/qemu-board.js';
import { scenarioClock } from './board/scenario-clock.js';
import { readSlot } from './board/slot-image.js';
import { agentRestarts, bootedSlot, hangAndExpectWatchdogRestart } from './board/agent-service.js';
import { childOf, finished as jobEnded, firmwareJob as schedule, pack as packSlot, registered, startFleet, type Fleet } from './fleet.js';

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

const slot = () => bootedSlot(board);

async function version(): Promise<string> {
  return (await board.ssh('cat /etc/fota/firmware-version')).trim();
}

/** A package of the board's slot A as install.sh left it (the agent installed), with firmware version `v`. */
async function pack(name: string, v: string, opts: { broken?: boolean; gzip?: boolean } = {}): Promise<string> {
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

function running(jobId: string): JobRecord | undefined {
  return childOf(fleet, jobId, DEVICE);
}

const restarts = () => agentRestarts(board);

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

  // 5 and 4a share one update (each is a whole download of the slot under TCG): the agent is killed at 20 %, then
  // the power is cut at 50 %; each time the download must go on from where it was, not from byte 0
  let resumedJob: string | undefined;

  /** Range requests for a later byte than 0 since `from` (uncompressed payloads resume: package-install.ts) */
  const resumedRanges = (from: number) => fleet.pkgs.requests.slice(from).map((r) => r.headers.range).filter((r): r is string => typeof r === 'string' && /^bytes=[1-9]\d*-/.test(r));

  it('5. the agent killed mid-download: systemd restarts it and the download resumes', async () => {
    const before = await restarts();
    // uncompressed and served at 2 MiB/s: a gzip download cut short starts again from its first byte (resumePackage)
    fleet.pkgs.setFaults([{ on: 'every', throttle: 2 * 1024 * 1024 }]);
    const jobId = await firmwareJob(await pack('v4', '4.0.0', { gzip: false }));
    await waitFor('the download to pass 20 %', 900_000, async () => (running(jobId)?.Progress ?? 0) >= 20 ? true : undefined);
    const killedAt = fleet.pkgs.requests.length;
    await board.ssh('systemctl kill --signal=SIGKILL fota-agent');
    await waitFor('systemd to restart the agent', 120_000, async () => ((await restarts()) > before ? true : undefined));
    await waitFor('the restarted agent to resume with a Range request', 300_000, async () => (resumedRanges(killedAt).length > 0 ? true : undefined));
    expect(running(jobId)?.Status).not.toMatch(/Completed|Failed|Cancelled/);
    resumedJob = jobId;
  }, 1_800_000);

  it('4a. power cut mid-download (the same update): the board boots its good slot, the download resumes, the job completes', async () => {
    // on its own when 5 failed before the job was under way
    const jobId = resumedJob ?? (await firmwareJob(await pack('v4', '4.0.0', { gzip: false })));
    await waitFor('the download to pass 50 %', 900_000, async () => (running(jobId)?.Progress ?? 0) >= 50 ? true : undefined);
    const cutAt = fleet.pkgs.requests.length;
    await board.powerCut();
    fleet.pkgs.setFaults([]);
    const from = board.console.length;
    board.powerOn();
    const child = await finished(jobId, 1_800_000);
    expect(child, await agentJournal()).toMatchObject({ Status: 'Completed', UpdateResult: 1, FirmwareVersionBefore: '2.0.0', FirmwareVersionAfter: '4.0.0' });
    // after the cut: the good slot B first (nothing was armed), then the trial of A, committed
    expect(board.boots(from).map((b) => b.slot)).toEqual(['B', 'A']);
    // the agent resumed where its last checkpoint was (a Range request), it did not start over
    expect(resumedRanges(cutAt).length).toBeGreaterThan(0);
    expect(await slot()).toBe('A');
    expect(await version()).toBe('4.0.0');
    expect(await board.env()).toMatchObject({ boot_part: 'A', upgrade_available: '0', bootcount: '0' });
  }, 3_000_000);

  it('4b. power cut between the slot write and the environment write: the board boots its good slot and the job ends', async () => {
    // the gate (customize.sh) holds the agent's fw_setenv once, so the cut lands exactly there
    await board.ssh('touch /var/lib/fota-agent/hil-gate');
    const jobId = await firmwareJob(await pack('v5', '5.0.0'));
    await waitFor('the agent to reach the environment write', 1_200_000, async () => (await board.ssh('test -e /var/lib/fota-agent/hil-gate-reached && echo yes').catch(() => '')).trim() === 'yes' ? true : undefined);
    expect(await board.env()).toMatchObject({ boot_part: 'A', upgrade_available: '0' });
    await board.powerCut();
    const from = board.console.length;
    board.powerOn();
    await board.waitBooted(from, BOOT_MS);
    // the slot that boots is the good one: the cut left the environment as it was
    expect(board.boots(from)[0]?.slot).toBe('A');
    const child = await finished(jobId, 1_800_000);
    if (child.Status === 'Completed') {
      // resumed: the agent armed B again after the reboot, trial-booted and committed it
      expect(child).toMatchObject({ UpdateResult: 1, FirmwareVersionAfter: '5.0.0' });
      expect(await slot()).toBe('B');
      expect(await version()).toBe('5.0.0');
      expect(await board.env()).toMatchObject({ boot_part: 'B', upgrade_available: '0', bootcount: '0' });
    } else {
      // or clearly failed, with the device still on the good slot
      expect(child.Status).toBe('Failed');
      expect(child.UpdateResult).not.toBe(1);
      expect(child.StatusMessage).not.toBe('');
      expect(await slot()).toBe('A');
      expect(await version()).toBe('4.0.0');
      expect(await board.env()).toMatchObject({ boot_part: 'A', upgrade_available: '0' });
    }
    await board.ssh('rm -f /var/lib/fota-agent/hil-gate-reached');
  }, 3_000_000);

  it('6. the agent hangs (SIGSTOP): the systemd watchdog kills and restarts it; the board has a hardware watchdog', async () => {
    await hangAndExpectWatchdogRestart(board);
    // the layer below: systemd pets QEMU's i6300esb, so a hung system (not just the agent) resets the board
    expect((await board.ssh('cat /sys/class/watchdog/watchdog0/identity')).trim()).toBe('i6300ESB timer');
    expect((await board.ssh('systemctl show -p RuntimeWatchdogUSec --value')).trim()).toBe('20s');
  }, 600_000);
});
