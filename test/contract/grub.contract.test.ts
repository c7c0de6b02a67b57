// The PlatformAdapter contract for the `grub` backend: grubenv written by the real grub-editenv (Debian grub-common),
// and every boot is the shipped platform/grub/fota-grub.cfg run by the hush interpreter in GRUB's dialect (load_env,
// the counting chain, save_env, the menuentry's `linux` line becoming the kernel command line the agent reads).
// Also: grubenv is replaced whole (a copy renamed over it), and a broken grubenv is reported, never overwritten.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { SlotName } from '../../agent/core/ports.js';
import { readSimImageHeader } from '../../platform/simulator/image-header.js';
import { GrubEnv } from '../../platform/grub/grub-env.js';
import { createPlatform } from '../../platform/registry.js';
import { grubPowerOn } from '../helpers/grub-board.js';
import { fileBoardAccess, platformContract, simImage, type PlatformFixture } from './platform.contract.js';

const run = promisify(execFile);
const CAPACITY = 1024 * 1024;
const GRUB_CFG = readFileSync(new URL('../../platform/grub/fota-grub.cfg', import.meta.url), 'utf8');

async function makeGrubBoard(): Promise<PlatformFixture & { envFile: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'fota-grub-'));
  const slots = { A: join(dir, 'fota-a'), B: join(dir, 'fota-b') };
  await writeFile(slots.A, simImage('1.0.0'));
  await writeFile(slots.B, '');
  for (const s of [slots.A, slots.B]) await truncate(s, CAPACITY);
  await writeFile(join(dir, 'factory.img'), simImage('1.0.0', 32 * 1024));
  // a fresh board: grubenv created by grub-editenv, empty (the script's defaults apply), as an installer leaves it
  const envFile = join(dir, 'grubenv');
  await run('grub-editenv', [envFile, 'create']);
  const cmdline = join(dir, 'cmdline');
  const versionFile = join(dir, 'firmware-version');
  const rebootLog = join(dir, 'reboots');
  await writeFile(rebootLog, '');
  const slotOf = (args: string): SlotName | undefined => /(?:^| )fota\.slot=([AB])(?: |$)/.exec(args)?.[1] as SlotName | undefined;
  const boot = async () => {
    // the kernel loads when the slot GRUB's search found holds an image (the label names the slot)
    const r = grubPowerOn({ cfg: GRUB_CFG, envFile, kernelLoads: (c) => readFileSync(slots[slotOf(c) ?? 'A']).subarray(0, 8).toString() === 'FOTASIM1' });
    if (r.kind !== 'booted') throw new Error(`GRUB did not boot a kernel: ${r.log.join(' | ')}`);
    const slot = slotOf(r.cmdline)!;
    expect(r.cmdline).toContain(`root=PARTLABEL=fota-${slot.toLowerCase()}`);
    await writeFile(versionFile, `${(await readSimImageHeader(slots[slot])).version}\n`);
    await writeFile(cmdline, `BOOT_IMAGE=/boot/vmlinuz ${r.cmdline}\n`);
    const env = await new GrubEnv({ file: envFile }).read();
    return { slot, trial: env['upgrade_available'] === '1' };
  };
  await boot();
  const make = () =>
    createPlatform('grub', {
      slots,
      envFile,
      firmwareVersionFile: versionFile,
      rebootCommand: [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(rebootLog)}, 'r')`],
      factoryImage: { path: join(dir, 'factory.img'), version: '1.0.0' },
      system: { cmdline, mountinfo: join(dir, 'no-mountinfo') },
    });
  return {
    dir,
    envFile,
    platform: make(),
    restart: make,
    boot,
    ...fileBoardAccess(dir, slots, rebootLog),
    capacity: CAPACITY,
    trialBoots: 3,
  };
}

platformContract('grub (grub-editenv, fota-grub.cfg in the interpreter)', makeGrubBoard);

describe('grubenv writes', () => {
  it('replace the block whole: a new file renamed over the old, 1024 bytes, no leftovers', async () => {
    const fx = await makeGrubBoard();
    try {
      const before = (await run('stat', ['-c', '%i', fx.envFile])).stdout.trim();
      await fx.platform.activateInactiveSlot();
      expect((await run('stat', ['-c', '%i %s', fx.envFile])).stdout.trim()).toMatch(new RegExp(`^(?!${before} )\\d+ 1024$`));
      expect(await readdir(fx.dir)).not.toContainEqual(expect.stringMatching(/fota-new/));
      expect(await new GrubEnv({ file: fx.envFile }).read()).toMatchObject({ boot_part: 'B', upgrade_available: '1', bootcount: '0' });
    } finally {
      await fx.cleanup();
    }
  });

  it('a broken grubenv is reported as corrupted and left as it is', async () => {
    const fx = await makeGrubBoard();
    try {
      await writeFile(fx.envFile, 'not a grub environment block');
      const e = await fx.platform.activateInactiveSlot().catch((x: unknown) => x);
      expect((e as Error).message).toMatch(/could not arm slot B|cannot read the GRUB environment/);
      expect(await readFile(fx.envFile, 'utf8')).toBe('not a grub environment block');
      await expect(new GrubEnv({ file: fx.envFile }).read()).rejects.toMatchObject({ reason: 'bad-crc' });
    } finally {
      await fx.cleanup();
    }
  });
});
