// The hil scenarios against a real board (FOTA_HIL_TARGET=ssh://root@pi.local): install.sh over SSH, then the
// scenarios that need no power switch: a good update, a broken image rolled back (both need FOTA_HIL_IMAGE, an
// ext4 image of the board's root slot with the agent installed), the agent killed mid-download, the agent hung.
// Runs only when FOTA_HIL_TARGET is set; docs/hardware-in-the-loop.md says how to prepare the board.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuild, ROOT, waitFor, workspace, type Workspace } from '../helpers/sim-device.js';
import { parseTarget, SshBoard } from './board/ssh-board.js';
import { agentRestarts, bootedSlot, hangAndExpectWatchdogRestart } from './board/agent-service.js';
import { childOf, finished, firmwareJob, pack, registered, startFleet, type Fleet } from './fleet.js';

const run = promisify(execFile);
const TARGET = process.env['FOTA_HIL_TARGET'];
const HOST = process.env['FOTA_HIL_HOST'] ?? '';
const IMAGE = process.env['FOTA_HIL_IMAGE'];
const [SLOT_A, SLOT_B] = (process.env['FOTA_HIL_SLOTS'] ?? '/dev/mmcblk0p2,/dev/mmcblk0p3').split(',');
const DEVICE_TYPE = process.env['FOTA_HIL_DEVICE_TYPE'] ?? 'uboot-ab';
const DEVICE = process.env['FOTA_HIL_DEVICE_ID'] ?? 'hil-real-board';

let ws: Workspace;
let dir: string;
let fleet: Fleet;
let board: SshBoard;
let n = 0;

const slot = () => bootedSlot(board);

const restarts = () => agentRestarts(board);

async function update(version: string, opts: { broken?: boolean } = {}): Promise<string> {
  const pkg = await pack(ws, dir, IMAGE!, `v${version}`, version, DEVICE_TYPE, opts);
  const jobId = `hil-real-${Date.now()}-${++n}`;
  firmwareJob(fleet, DEVICE, jobId, pkg, `http://${HOST}:${fleet.pkgPort}`);
  return jobId;
}

describe.runIf(TARGET)('a real board with fota (FOTA_HIL_TARGET)', () => {
  beforeAll(async () => {
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(HOST)) throw new Error('FOTA_HIL_HOST must be the IPv4 address of this machine as the board reaches it (the broker and the package server listen there)');
    requireBuild();
    board = new SshBoard(parseTarget(TARGET!));
    await board.waitSsh(60_000);
    ws = await workspace();
    dir = await mkdtemp(join(tmpdir(), 'fota-hil-real-'));
    fleet = await startFleet(dir, HOST);
  }, 120_000);

  afterAll(async () => {
    await fleet?.close();
    await ws?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('1. install.sh over SSH: the service is active and the device registers with the hub', async () => {
    const config = join(dir, 'agent.json');
    await writeFile(config, JSON.stringify({
      deviceId: DEVICE,
      broker: { url: `mqtt://${HOST}:${fleet.brokerPort}` },
      platform: { name: 'uboot', options: { slots: { A: SLOT_A, B: SLOT_B } } },
      trustedKeys: ['/etc/fota/keys/release.pub'],
      device: { deviceType: DEVICE_TYPE },
    }, null, 2));
    const t = board.target;
    await run(join(ROOT, 'install.sh'), ['--port', String(t.port), '--config', config, '--force', '--trusted-key', ws.pub, `${t.user}@${t.host}`], { timeout: 600_000 });
    expect((await board.ssh('systemctl is-active fota-agent')).trim()).toBe('active');
    await registered(fleet, DEVICE, 120_000);
  }, 900_000);

  it.runIf(IMAGE)('2 and 3. a good update commits (Update Result 1); a broken one rolls back (Update Result 8)', async () => {
    const before = await slot();
    const good = await update('9.0.1');
    expect(await finished(fleet, good, DEVICE, 3_600_000)).toMatchObject({ Status: 'Completed', UpdateResult: 1, FirmwareVersionAfter: '9.0.1' });
    expect(await slot()).not.toBe(before);
    expect(await board.env()).toMatchObject({ upgrade_available: '0' });
    const now = await slot();
    const broken = await update('9.0.2', { broken: true });
    const child = await finished(fleet, broken, DEVICE, 3_600_000);
    expect(child).toMatchObject({ Status: 'Failed', UpdateResult: 8 });
    expect(await slot()).toBe(now);
    expect(await board.env()).toMatchObject({ boot_part: now, upgrade_available: '0' });
  }, 7_200_000);

  it.runIf(IMAGE)('5. the agent killed mid-download: systemd restarts it and the download resumes', async () => {
    const before = await restarts();
    fleet.pkgs.setFaults([{ on: 'every', throttle: 1024 * 1024 }]);
    const first = fleet.pkgs.requests.length;
    const jobId = await update('9.0.3');
    await waitFor('the download to pass 20 %', 1_800_000, async () => ((childOf(fleet, jobId, DEVICE)?.Progress ?? 0) >= 20 ? true : undefined));
    await board.ssh('systemctl kill --signal=SIGKILL fota-agent');
    fleet.pkgs.setFaults([]);
    await waitFor('systemd to restart the agent', 120_000, async () => ((await restarts()) > before ? true : undefined));
    expect(await finished(fleet, jobId, DEVICE, 3_600_000)).toMatchObject({ Status: 'Completed', UpdateResult: 1 });
    expect(fleet.pkgs.requests.slice(first).some((r) => /^bytes=[1-9]\d*-/.test(String(r.headers.range ?? '')))).toBe(true);
  }, 7_200_000);

  it('6. the agent hangs (SIGSTOP): the systemd watchdog kills and restarts it', async () => {
    await hangAndExpectWatchdogRestart(board);
  }, 600_000);
});
