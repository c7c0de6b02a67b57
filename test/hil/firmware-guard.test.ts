// The virtual board's firmware stall guard (test/hil/board/qemu-board.ts): U-Boot's banner not followed by our
// boot script within the limit is a power cycle, at most three per board, each said on the console. With a limit
// no boot can meet (50 ms), the guard must cycle exactly three times and then leave the fourth boot alone, which
// reaches the script; the board is never seen powered off by a waiter in between.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../helpers/mosquitto.js';
import { QemuBoard } from './board/qemu-board.js';

const image = inject('hilImage');

describe.skipIf(image === null)('the virtual board power-cycles a U-Boot that stalls before the boot script', () => {
  let board: QemuBoard | undefined;
  let dir = '';

  afterAll(async () => {
    await board?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('cycles three times, says so on the console, then lets the boot through', async () => {
    dir = await mkdtemp(join(tmpdir(), 'fota-hil-guard-'));
    board = await QemuBoard.create({ image: image!, dir, sshPort: await freePort(), forwards: [], firmwareStallMs: 50 });
    board.powerOn();
    await board.waitConsole(/fota: booting slot [AB]/, 120_000, 0, 'U-Boot to start a boot after the guard gave up');
    expect(board.firmwareStalls).toBe(3);
    expect(board.running).toBe(true);
    const said = board.console.match(/\[hil harness\] U-Boot started 0\.05 s ago and has not reached the boot script/g) ?? [];
    expect(said).toHaveLength(3);
    expect(board.console.match(/(?:^|\n)U-Boot \d{4}\./g)).toHaveLength(4);
    expect(board.boots()).toHaveLength(1);
    expect(await readFile(board.consoleLog, 'utf8')).toContain('firmware stall 3 of at most 3');
    await board.powerCut();
    expect(board.running).toBe(false);
  }, 300_000);
});
