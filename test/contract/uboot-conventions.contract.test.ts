// The PlatformAdapter contract for the `uboot` backend under each convention — fota's own, Mender's, RAUC's — on a
// single and a redundant environment written by the real fw_printenv/fw_setenv. Every boot is U-Boot's own logic run
// by the hush interpreter (test/helpers/uboot-board.ts): the power-on bootcount sequence for Mender, each project's
// boot script or bootcmd, saveenv through fw_setenv; the kernel command line the platform reads is the bootargs the
// script built. So activate → trial → commit / fallback is proven against the bootloader's behaviour.
import { expect } from 'vitest';
import { makeUBootBoard } from '../helpers/uboot-fixture.js';
import { platformContract } from './platform.contract.js';

for (const convention of ['fota', 'mender', 'rauc'] as const) {
  for (const redundant of [false, true]) {
    // Mender's default bootlimit is 1 (one trial boot); the redundant variant runs with bootlimit 3 so that a revert
    // has to do its own work instead of leaving the fallback to the next boot
    const extra = convention === 'mender' && redundant ? { bootlimit: 3 } : {};
    const label = `${redundant ? 'redundant' : 'single'} environment${'bootlimit' in extra ? ', bootlimit 3' : ''}`;
    platformContract(`uboot, ${convention} convention, ${label} (fw_setenv, boot logic in the hush interpreter)`, async () => {
      const fx = await makeUBootBoard(convention, redundant, extra);
      // the fixture's first boot is the committed slot A
      expect((await fx.platform.bootStatus()).booted).toBe('A');
      return fx;
    });
  }
}
