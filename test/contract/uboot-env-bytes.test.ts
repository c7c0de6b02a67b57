// The environment's bytes after each verb, for each convention, single and redundant, written by the real fw_setenv
// (env: fw-tools) and by fota's own writer (env: native): every copy's CRC holds; exactly the convention's variables
// change (nothing else in the environment moves); with two copies the write lands in the stale copy with the next
// flag value and the copy U-Boot was using stays byte for byte as it was, so a power cut mid-write loses nothing.
// The layout is decoded here independently: [CRC32 LE][flags, redundant only]["name=value\0"...]"\0".
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { PlatformAdapter, SlotName } from '../../agent/core/ports.js';
import { crc32 } from '../../platform/uboot/env-format.js';
import { makeUBootBoard, type UBootBoard } from '../helpers/uboot-fixture.js';
import { simImage } from './platform.contract.js';

const ENV_SIZE = 0x4000;

interface Copy {
  crcOk: boolean;
  flags: number | undefined;
  vars: Record<string, string>;
  raw: Buffer;
}

function decode(raw: Buffer, redundant: boolean): Copy {
  const header = redundant ? 5 : 4;
  const data = raw.subarray(header);
  const vars: Record<string, string> = {};
  for (let at = 0; at < data.length && data[at] !== 0; ) {
    const end = data.indexOf(0, at);
    const entry = data.subarray(at, end).toString('utf8');
    vars[entry.slice(0, entry.indexOf('='))] = entry.slice(entry.indexOf('=') + 1);
    at = end + 1;
  }
  return { crcOk: raw.readUInt32LE(0) === crc32(data), flags: redundant ? raw[4] : undefined, vars, raw };
}

async function copies(board: UBootBoard, redundant: boolean): Promise<Copy[]> {
  const file = await readFile(board.envFile);
  return redundant ? [decode(file.subarray(0, ENV_SIZE), true), decode(file.subarray(ENV_SIZE, 2 * ENV_SIZE), true)] : [decode(file.subarray(0, ENV_SIZE), false)];
}

/** The copy U-Boot reads: the valid one, or with two the newer flag (255 → 0 wraps, as libubootenv and U-Boot agree). */
function current(cs: Copy[]): number {
  if (cs.length === 1) return 0;
  const [a, b] = cs as [Copy, Copy];
  if (a.crcOk !== b.crcOk) return a.crcOk ? 0 : 1;
  return ((a.flags! + 1) & 0xff) === b.flags ? 1 : 0;
}

type Change = Record<string, string | null>;
const other = (s: SlotName): SlotName => (s === 'A' ? 'B' : 'A');
const PART = { A: '2', B: '3' } as const;

/** What each verb must change, per convention, written out independently of the platform's plans. */
const CHANGES: Record<'fota' | 'mender' | 'rauc', { activate(to: SlotName): Change; commit(s: SlotName): Change; revertPending(booted: SlotName): Change; revertTrial(booted: SlotName): Change }> = {
  fota: {
    activate: (to) => ({ boot_part: to, upgrade_available: '1', bootcount: '0' }),
    commit: (s) => ({ boot_part: s, upgrade_available: '0', bootcount: '0' }),
    revertPending: (b) => ({ boot_part: b, upgrade_available: '0', bootcount: '0' }),
    revertTrial: () => ({ bootcount: '3' }),
  },
  mender: {
    activate: (to) => ({ mender_boot_part: PART[to], mender_boot_part_hex: PART[to], upgrade_available: '1', bootcount: '0' }),
    commit: (s) => ({ mender_boot_part: PART[s], mender_boot_part_hex: PART[s], upgrade_available: '0', bootcount: '0' }),
    revertPending: (b) => ({ mender_boot_part: PART[b], mender_boot_part_hex: PART[b], upgrade_available: '0', bootcount: '0' }),
    revertTrial: () => ({ bootcount: '1' }),
  },
  rauc: {
    activate: (to) => ({ BOOT_ORDER: `${to} ${other(to)}`, [`BOOT_${to}_LEFT`]: '3', fota_trial: to }),
    commit: (s) => ({ BOOT_ORDER: `${s} ${other(s)}`, [`BOOT_${s}_LEFT`]: '3', fota_trial: null }),
    revertPending: (b) => ({ BOOT_ORDER: `${b} ${other(b)}`, fota_trial: null }),
    revertTrial: (b) => ({ [`BOOT_${b}_LEFT`]: '0' }),
  },
};

for (const convention of ['fota', 'mender', 'rauc'] as const) {
  for (const redundant of [false, true]) {
    for (const env of ['fw-tools', 'native'] as const) {
      describe(`environment bytes after each verb: ${convention} convention, ${redundant ? 'redundant' : 'single'}, env ${env}`, () => {
        let board: UBootBoard;
        afterEach(async () => board.cleanup());

        /** Runs `verb` and checks the bytes: `change` applied and nothing else; the old current copy untouched; no write when nothing changes. */
        async function verb(p: PlatformAdapter, run: () => Promise<void>, change: Change): Promise<void> {
          const before = await copies(board, redundant);
          const was = current(before);
          await run();
          const after = await copies(board, redundant);
          const now = current(after);
          const expected = { ...before[was]!.vars };
          for (const [k, v] of Object.entries(change)) if (v === null) delete expected[k];
          else expected[k] = v;
          expect(after.every((c) => c.crcOk)).toBe(true);
          expect(after[now]!.vars).toEqual(expected);
          // nothing to change (Mender's revert with bootlimit 1: bootcount is at the limit already): nothing written
          if (JSON.stringify(Object.entries(expected).sort()) === JSON.stringify(Object.entries(before[was]!.vars).sort())) {
            expect(after.map((c) => c.raw.toString('hex'))).toEqual(before.map((c) => c.raw.toString('hex')));
            return;
          }
          if (redundant) {
            expect(now).toBe(1 - was);
            expect(after[now]!.flags).toBe((before[was]!.flags! + 1) & 0xff);
            expect(after[was]!.raw.equals(before[was]!.raw)).toBe(true);
          }
          void p;
        }

        it('activate, trial boot, commit; activate back and disarm; activate, trial boot, revert', async () => {
          board = await makeUBootBoard(convention, redundant, { env });
          const p = board.platform;
          const c = CHANGES[convention];
          // slot B needs a kernel to boot: an image, written as an update would (this also writes the env probe)
          const w = await p.openInactiveSlot({ size: 64 * 1024 });
          await w.write(simImage('2.0.0'));
          await w.finish();
          await verb(p, () => p.activateInactiveSlot(), c.activate('B'));
          await p.reboot('trial');
          expect(await board.boot()).toEqual({ slot: 'B', trial: true });
          await verb(p, () => p.commitBootedSlot(), c.commit('B'));
          await verb(p, () => p.activateInactiveSlot(), c.activate('A'));
          await verb(p, () => p.revertTrial(), c.revertPending('B'));
          await verb(p, () => p.activateInactiveSlot(), c.activate('A'));
          await p.reboot('trial');
          expect(await board.boot()).toEqual({ slot: 'A', trial: true });
          await verb(p, () => p.revertTrial(), c.revertTrial('A'));
          await p.reboot('revert');
          expect(await board.boot()).toEqual({ slot: 'B', trial: false });
        });
      });
    }
  }
}
