// Taking over a device provisioned for Mender or RAUC: the agent's start-up check (fota-agent, the real process)
// accepts a board whose U-Boot saved the Mender canary and refuses with exit 78 one whose fw_env.config points where
// U-Boot never wrote; on a RAUC board the agent marks the booted slot good at start, as rauc-mark-good.service did,
// so normal boots never run the committed slot's attempts out.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { checkPlatform, PlatformConfigError } from '../../platform/registry.js';
import { FwToolsBootEnv } from '../../platform/uboot/fw-tools-boot-env.js';
import { makeUBootBoard, type UBootBoard } from '../helpers/uboot-fixture.js';

const run = promisify(execFile);
const AGENT = new URL('../../bin/fota-agent.js', import.meta.url).pathname;

async function agentCheck(board: UBootBoard): Promise<{ code: number; out: string }> {
  const config = join(board.dir, 'agent.json');
  await writeFile(config, JSON.stringify({ deviceId: 'takeover-1', allowUnsigned: true, stateDir: join(board.dir, 'state'), platform: { name: 'uboot', options: board.options } }));
  return run(process.execPath, [AGENT, '--config', config, '--check']).then(
    (r) => ({ code: 0, out: r.stdout }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
  );
}

describe('taking over a Mender device', () => {
  let board: UBootBoard;
  afterEach(async () => board.cleanup());

  it('fota-agent --check accepts it once U-Boot has saved the canary, and names the convention', async () => {
    board = await makeUBootBoard('mender', false);
    const r = await agentCheck(board);
    expect(r).toMatchObject({ code: 0 });
    expect(r.out).toMatch(/platform: booted slot A \(.*mmcblk0p2\), inactive slot B \(.*mmcblk0p3\), mender convention/);
  });

  it('an environment U-Boot never wrote (wrong fw_env.config) exits 78 naming the canary', async () => {
    board = await makeUBootBoard('mender', false);
    // as if fw_env.config pointed at a copy U-Boot does not use: the canary U-Boot saved is not there
    await new FwToolsBootEnv({ config: board.config }).write({ mender_saveenv_canary: null });
    const r = await agentCheck(board);
    expect(r.code).toBe(78);
    expect(r.out).toMatch(/configuration error .*platform\.options\.convention: mender_check_saveenv_canary=1 but mender_saveenv_canary is not 1/);
  });
});

describe('taking over a RAUC device', () => {
  let board: UBootBoard;
  afterEach(async () => board.cleanup());

  it('the committed slot gets its attempts back at every start, so normal boots never fall back', async () => {
    board = await makeUBootBoard('rauc', true);
    const env = new FwToolsBootEnv({ config: board.config });
    for (let i = 0; i < 5; i++) {
      // the boot script took one attempt; the agent's start gives it back
      expect((await env.read())['BOOT_A_LEFT']).toBe('2');
      expect(await checkPlatform(board.restart())).toContainEqual('start bookkeeping written: BOOT_A_LEFT');
      expect((await env.read())['BOOT_A_LEFT']).toBe('3');
      expect(await board.boot()).toEqual({ slot: 'A', trial: false });
    }
    // --check writes nothing
    expect(await agentCheck(board)).toMatchObject({ code: 0 });
    expect((await env.read())['BOOT_A_LEFT']).toBe('2');
  });

  it('without it (no agent start) the committed slot runs out after three boots: what the start-up mark-good prevents', async () => {
    board = await makeUBootBoard('rauc', false);
    for (let i = 0; i < 2; i++) expect((await board.boot()).slot).toBe('A');
    // A has no attempts left: the boot script moves on to B, which holds no kernel, and the board resets
    await expect(board.boot()).rejects.toThrow(/did not boot \(reset\)/);
  });

  it('a BOOT_ORDER with other bootnames is a configuration error until bootnames are set', async () => {
    board = await makeUBootBoard('rauc', false);
    await new FwToolsBootEnv({ config: board.config }).write({ BOOT_ORDER: 'system0 system1' });
    const e = await checkPlatform(board.restart()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PlatformConfigError);
    expect((e as Error).message).toMatch(/set platform\.options\.bootnames/);
  });
});
