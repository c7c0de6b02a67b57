// The PlatformAdapter contract for `rpi-tryboot`, against autoboot.txt on a real FAT image (mkfs.vfat, mtools) and
// the firmware's device-tree cells in a folder (test/helpers/rpi-board.ts). Then what is particular to tryboot: the
// trial lives in the reboot itself (a power cut before it means no trial), autoboot.txt stays a valid FAT file the
// firmware can read, and the start-up check refuses a board that is not a Pi booted by its firmware, a missing
// autoboot.txt, and a board without a running hardware watchdog.
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { checkPlatform, PlatformConfigError } from '../../platform/registry.js';
import { mountedAutoboot, parseAutoboot, renderAutoboot } from '../../platform/rpi/autoboot.js';
import { makeRpiBoard, type RpiBoard } from '../helpers/rpi-board.js';
import { platformContract, simImage } from './platform.contract.js';

const run = promisify(execFile);

platformContract('rpi-tryboot (autoboot.txt on a FAT image with mtools, device-tree cells in a folder)', makeRpiBoard);

async function install(board: RpiBoard, version: string): Promise<void> {
  const w = await board.platform.openInactiveSlot({ size: 64 * 1024 });
  await w.write(simImage(version));
  await w.finish();
}

describe('rpi-tryboot', () => {
  let board: RpiBoard;
  afterEach(async () => board.cleanup());

  it('activate leaves autoboot.txt booting the committed slot; only reboot "0 tryboot" tries the other, once', async () => {
    board = await makeRpiBoard();
    const p = board.platform;
    await install(board, '2.0.0');
    await p.activateInactiveSlot();
    expect(await board.autoboot()).toBe('[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n');
    await p.reboot('trial');
    expect(await board.boot()).toEqual({ slot: 'B', trial: true });
    // commit: [all] names B now; the FAT is still clean for the firmware
    await p.commitBootedSlot();
    expect(await board.autoboot()).toBe('[all]\ntryboot_a_b=1\nboot_partition=3\n[tryboot]\nboot_partition=2\n');
    await run('fsck.vfat', ['-n', board.fat]);
    expect(await board.boot()).toEqual({ slot: 'B', trial: false });
  });

  it('a power cut between activation and the reboot loses the trial: the firmware forgets tryboot at any reset', async () => {
    board = await makeRpiBoard();
    const p = board.platform;
    await install(board, '2.0.0');
    await p.activateInactiveSlot();
    expect(await p.bootStatus()).toMatchObject({ pending: 'B' });
    expect(await board.boot()).toEqual({ slot: 'A', trial: false }); // the power came back: a normal boot
    expect(await board.restart().bootStatus()).toEqual({ booted: 'A', trial: false, pending: null, firmwareVersion: '1.0.0' });
    // no tryboot either: the next reboot is a normal one
    await board.restart().reboot('x');
    expect(await board.boot()).toEqual({ slot: 'A', trial: false });
  });

  it('a trial that hangs is reset by the watchdog and the firmware boots the committed slot', async () => {
    board = await makeRpiBoard();
    await install(board, '2.0.0');
    await board.platform.activateInactiveSlot();
    await board.platform.reboot('trial');
    expect(await board.boot()).toEqual({ slot: 'B', trial: true });
    expect(await board.boot()).toEqual({ slot: 'A', trial: false }); // the watchdog's reset is no tryboot
    expect(await board.restart().bootStatus()).toEqual({ booted: 'A', trial: false, pending: null, firmwareVersion: '1.0.0' });
  });

  it('the start-up check: a Pi booted by its firmware, autoboot.txt present, a watchdog running', async () => {
    board = await makeRpiBoard();
    expect(await checkPlatform(board.platform)).toEqual([expect.stringMatching(/^booted slot A \(partition 2\), inactive slot B \(.*mmcblk0p3\), autoboot .*mmcblk0p1::autoboot\.txt$/)]);
    const configError = async (options: Record<string, unknown> = {}) => {
      const e = await checkPlatform((await import('../../platform/registry.js')).createPlatform('rpi-tryboot', { ...board.options, ...options })).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(PlatformConfigError);
      return `${(e as PlatformConfigError).key}: ${(e as Error).message}`;
    };
    await writeFile(join(board.watchdog, 'watchdog0', 'state'), 'inactive\n');
    expect(await configError()).toMatch(/^platform\.options\.watchdog: .*no hardware watchdog is running \(watchdog0 not active\).*dtparam=watchdog=on/);
    expect(await checkPlatform((await import('../../platform/registry.js')).createPlatform('rpi-tryboot', { ...board.options, watchdog: 'warn' }))).toContainEqual(expect.stringMatching(/^warning: no hardware watchdog is running/));
    await run('mdel', ['-i', board.fat, '::autoboot.txt'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    expect(await configError({ watchdog: 'off' })).toMatch(/^platform\.options\.autoboot: .*autoboot\.txt does not exist; create it/);
    await rm(join(board.deviceTree, 'partition'));
    expect(await configError({ watchdog: 'off' })).toMatch(/^platform\.name: .*was not booted by the Raspberry Pi firmware/);
  });

  it('on a mounted boot partition autoboot.txt is replaced by a new file renamed over it (no leftovers)', async () => {
    board = await makeRpiBoard();
    // this kernel cannot mount vfat: a plain folder stands for the mount point (the file operations are the same)
    const mount = join(board.dir, 'boot-firmware');
    await mkdir(mount);
    await writeFile(join(mount, 'autoboot.txt'), await board.autoboot());
    const store = mountedAutoboot(mount);
    const inode = (await stat(join(mount, 'autoboot.txt'))).ino;
    await store.write(renderAutoboot(3, 2));
    expect(await readFile(join(mount, 'autoboot.txt'), 'utf8')).toBe('[all]\ntryboot_a_b=1\nboot_partition=3\n[tryboot]\nboot_partition=2\n');
    expect((await stat(join(mount, 'autoboot.txt'))).ino).not.toBe(inode);
    expect(await readdir(mount)).toEqual(['autoboot.txt']);
    expect(parseAutoboot('# comment\n[all]\ntryboot_a_b=1\nboot_partition=2\n[none]\nboot_partition=9\n[tryboot]\nboot_partition=3 # B\n')).toEqual({ tryboot_a_b: true, all: 2, tryboot: 3 });
  });

  it('autoboot.txt that cannot be written stops a download before the slot is touched', async () => {
    board = await makeRpiBoard({ autoboot: { device: '/nonexistent/mmcblk0p1' } });
    const e = await board.platform.openInactiveSlot({ size: 1024 }).catch((x: unknown) => x);
    expect((e as Error).message).toMatch(/autoboot|no such device/);
  });
});
