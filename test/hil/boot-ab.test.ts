// The virtual board's boot path with no agent: real U-Boot runs boot.cmd over the redundant environment, and a
// shell stand-in does what the agent's platform verbs do (fw_setenv -s in the guest, systemctl reboot). Proves
// the boot script itself: normal boot, trial boot + commit, three failed trials of a broken slot + fallback.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../helpers/mosquitto.js';
import { QemuBoard } from './board/qemu-board.js';
import { scenarioClock } from './board/scenario-clock.js';
import { makeSlotImage, writeSlot } from './board/slot-image.js';

const image = inject('hilImage');
// generous: a boot takes ~35 s on an idle 2-core machine, and was seen to exceed 5 min under load 16
const BOOT_MS = 600_000;
let dir: string;
let board: QemuBoard;

async function bootedSlot(): Promise<string> {
  return /fota\.slot=([AB])/.exec(await board.ssh('cat /proc/cmdline'))?.[1] ?? '?';
}

/** What the agent's activate verb writes, in one fw_setenv -s (libubootenv wants name=value lines). */
async function arm(slot: 'A' | 'B'): Promise<void> {
  await board.ssh(`printf 'boot_part=${slot}\\nupgrade_available=1\\nbootcount=0\\n' > /tmp/arm && fw_setenv -s /tmp/arm`);
}

async function rebootAndWait(): Promise<number> {
  const from = board.console.length;
  await board.ssh('systemctl reboot').catch(() => undefined);
  await board.waitBooted(from, BOOT_MS);
  return from;
}

// null only when a developer opted out with FOTA_HIL=0; global-setup.ts refuses that in CI
describe.skipIf(image === null)('U-Boot A/B on the virtual board (shell stand-in for the agent)', () => {
  scenarioClock(() => board);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fota-hil-'));
    board = await QemuBoard.create({ image: image!, dir, sshPort: await freePort(), forwards: [] });
    await makeSlotImage(image!.slotA, join(dir, 'v2.img'), { version: '2.0.0' });
    await makeSlotImage(image!.slotA, join(dir, 'broken.img'), { version: '3.0.0', broken: true });
    await writeSlot(board.disk, 'B', join(dir, 'v2.img'));
    board.powerOn();
    await board.waitBooted(0, BOOT_MS);
  }, BOOT_MS + 60_000);

  afterAll(async () => {
    await board?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('boots slot A from the committed environment, which host and guest read alike', async () => {
    expect(board.boots().map((b) => b.slot)).toEqual(['A']);
    expect(await bootedSlot()).toBe('A');
    expect(await board.env()).toMatchObject({ boot_part: 'A', upgrade_available: '0', bootcount: '0', bootlimit: '3' });
    expect(await board.ssh('fw_printenv -n boot_part')).toBe('A\n');
    expect((await board.ssh('cat /etc/fota/firmware-version')).trim()).toBe('1.0.0');
  });

  it('trial-boots the armed slot once (bootcount 1/3), and a commit ends the trial', async () => {
    await arm('B');
    const from = await rebootAndWait();
    expect(board.boots(from).map((b) => b.slot)).toEqual(['B']);
    expect(board.console.slice(from)).toContain('fota: trial boot 1/3 of slot B');
    expect(await bootedSlot()).toBe('B');
    expect((await board.ssh('cat /etc/fota/firmware-version')).trim()).toBe('2.0.0');
    expect(await board.env()).toMatchObject({ boot_part: 'B', upgrade_available: '1', bootcount: '1' });
    // commit, as the agent's commit verb writes it
    await board.ssh(`printf 'upgrade_available=0\\nbootcount=0\\n' > /tmp/c && fw_setenv -s /tmp/c`);
    expect(await board.env()).toMatchObject({ boot_part: 'B', upgrade_available: '0', bootcount: '0' });
    const again = await rebootAndWait();
    expect(board.boots(again).map((b) => b.slot)).toEqual(['B']);
    expect(await board.env()).toMatchObject({ boot_part: 'B', upgrade_available: '0', bootcount: '0' });
  }, 2 * BOOT_MS);

  it('falls back after three failed trial boots of a broken slot (init dies, the kernel panics)', async () => {
    await board.shutdown();
    await writeSlot(board.disk, 'A', join(dir, 'broken.img'));
    const on = board.console.length;
    board.powerOn();
    await board.waitBooted(on, BOOT_MS);
    await arm('A');
    // three trial boots that panic, then the fallback boot
    const from = board.console.length;
    await board.ssh('systemctl reboot').catch(() => undefined);
    await board.waitConsole(/falling back/, 3 * BOOT_MS, from, 'the fallback');
    await board.waitBooted(from, BOOT_MS);
    expect(board.boots(from).map((b) => b.slot)).toEqual(['A', 'A', 'A', 'B']);
    const log = board.console.slice(from);
    expect(log.match(/Attempted to kill init/g)?.length).toBe(3);
    expect(log).toContain('fota: slot A used up 3 trial boots; falling back');
    expect(await bootedSlot()).toBe('B');
    expect(await board.env()).toMatchObject({ boot_part: 'B', upgrade_available: '0', bootcount: '0' });
  }, 5 * BOOT_MS);
});
