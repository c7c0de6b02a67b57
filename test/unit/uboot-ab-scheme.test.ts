// The U-Boot A/B scheme: the boot script's decision for every kind of stored environment, and each verb's plan.
import { describe, expect, it } from 'vitest';
import { bootState, initialEnv, planActivate, planCommit, planRevert, runBootScript, type Slot } from '../../platform/uboot/ab-scheme.js';

type Env = Record<string, string>;
const env = (o: Record<string, string | undefined>): Env => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Env;

describe('runBootScript: no trial armed (upgrade_available != 1) boots boot_part and saves nothing', () => {
  it.each([
    ['A', '0', 'A'],
    ['B', '0', 'B'],
    ['A', undefined, 'A'],
    ['B', undefined, 'B'],
    [undefined, '0', 'A'],
    ['garbage', '0', 'A'],
    ['b', '0', 'A'], // U-Boot `test` compares exactly: only "B" selects B
    ['B', 'yes', 'B'],
    ['B', '2', 'B'],
  ] as const)('boot_part=%s upgrade_available=%s → slot %s', (bootPart, upgrade, slot) => {
    const d = runBootScript(env({ boot_part: bootPart, upgrade_available: upgrade, bootcount: '2', bootlimit: '3' }));
    expect(d).toEqual({ slot, trial: false, bootcount: 2, bootlimit: 3, fellBack: false, save: null });
  });
});

describe('runBootScript: a trial armed (upgrade_available=1) counts, then falls back', () => {
  it.each([
    // boot_part, bootcount, bootlimit → slot, trial, bootcount after, fell back, saved
    ['B', '0', '3', 'B', true, 1, false, { bootcount: '1' }],
    ['B', '1', '3', 'B', true, 2, false, { bootcount: '2' }],
    ['B', '2', '3', 'B', true, 3, false, { bootcount: '3' }],
    ['B', '3', '3', 'A', false, 0, true, { boot_part: 'A', upgrade_available: '0', bootcount: '0' }],
    ['B', '7', '3', 'A', false, 0, true, { boot_part: 'A', upgrade_available: '0', bootcount: '0' }],
    ['A', '3', '3', 'B', false, 0, true, { boot_part: 'B', upgrade_available: '0', bootcount: '0' }],
    ['A', '0', '3', 'A', true, 1, false, { bootcount: '1' }],
    ['B', undefined, '3', 'B', true, 1, false, { bootcount: '1' }],
    ['B', 'x', '3', 'B', true, 1, false, { bootcount: '1' }],
    ['B', '2', undefined, 'B', true, 3, false, { bootcount: '3' }], // unset bootlimit: the script's default 3
    ['B', '3', undefined, 'A', false, 0, true, { boot_part: 'A', upgrade_available: '0', bootcount: '0' }],
    ['B', '0', '1', 'B', true, 1, false, { bootcount: '1' }],
    ['B', '1', '1', 'A', false, 0, true, { boot_part: 'A', upgrade_available: '0', bootcount: '0' }],
    ['B', '0', '0', 'A', false, 0, true, { boot_part: 'A', upgrade_available: '0', bootcount: '0' }], // bootlimit 0: no trial at all
  ] as const)('boot_part=%s bootcount=%s bootlimit=%s → slot %s trial %s count %i fellBack %s', (bootPart, count, limit, slot, trial, after, fellBack, save) => {
    const d = runBootScript(env({ boot_part: bootPart, upgrade_available: '1', bootcount: count, bootlimit: limit }));
    expect(d.slot).toBe(slot);
    expect(d.trial).toBe(trial);
    expect(d.bootcount).toBe(after);
    expect(d.fellBack).toBe(fellBack);
    expect(d.save).toEqual(save);
  });

  it('a bad CRC (no environment) boots A with defaults and saves nothing', () => {
    expect(runBootScript(undefined)).toEqual({ slot: 'A', trial: false, bootcount: 0, bootlimit: 3, fellBack: false, save: null });
  });

  it('bootlimit trial boots happen before the fallback (bootlimit=3: boots 1-3 on B, boot 4 on A)', () => {
    let vars: Env = { ...initialEnv(), boot_part: 'B', upgrade_available: '1', bootcount: '0' };
    const slots: Slot[] = [];
    for (let i = 0; i < 5; i++) {
      const d = runBootScript(vars);
      slots.push(d.slot);
      vars = { ...vars, ...(d.save ?? {}) };
    }
    expect(slots).toEqual(['B', 'B', 'B', 'A', 'A']);
    expect(vars).toMatchObject({ boot_part: 'A', upgrade_available: '0', bootcount: '0' });
  });
});

describe('bootState', () => {
  it.each([
    [{ boot_part: 'A', upgrade_available: '0' }, 'A', false, null],
    [{ boot_part: 'B', upgrade_available: '1' }, 'A', false, 'B'], // armed, not rebooted yet
    [{ boot_part: 'B', upgrade_available: '1' }, 'B', true, null], // trial boot
    [{ boot_part: 'A', upgrade_available: '0' }, 'B', false, null], // running B while A is the default (after a manual switch)
    [{ boot_part: 'B', upgrade_available: '0' }, 'B', false, null], // committed
  ] as const)('%o booted %s → trial %s pending %s', (vars, booted, trial, pending) => {
    expect(bootState(vars, booted)).toEqual({ trial, pending });
  });
});

describe('verb plans', () => {
  const committedA = { ...initialEnv(), boot_part: 'A', upgrade_available: '0', bootcount: '0' };
  const armedB = { ...committedA, boot_part: 'B', upgrade_available: '1', bootcount: '0' };
  const trialB = { ...armedB, bootcount: '1' };

  it('activate arms the other slot in one write and is a no-op when already armed', () => {
    expect(planActivate(committedA, 'A')).toEqual({ ok: true, write: { boot_part: 'B', upgrade_available: '1', bootcount: '0' } });
    expect(planActivate(armedB, 'A')).toEqual({ ok: true, write: null });
  });

  it('activate writes a configured bootlimit, and a default one when the env has none usable', () => {
    expect(planActivate(committedA, 'A', 2)).toEqual({ ok: true, write: { boot_part: 'B', upgrade_available: '1', bootcount: '0', bootlimit: '2' } });
    expect(planActivate({ ...committedA, bootlimit: '0' }, 'A')).toEqual({ ok: true, write: { boot_part: 'B', upgrade_available: '1', bootcount: '0', bootlimit: '3' } });
  });

  it('activate is refused during a trial (the inactive slot is the fallback)', () => {
    const p = planActivate(trialB, 'B');
    expect(p.ok).toBe(false);
  });

  it('commit ends the trial in one write, then has nothing to do', () => {
    expect(planCommit(trialB, 'B')).toEqual({ ok: true, write: { upgrade_available: '0', bootcount: '0', boot_part: 'B' } });
    expect(planCommit({ ...trialB, upgrade_available: '0', bootcount: '0' }, 'B')).toEqual({ ok: true, write: null });
  });

  it('commit is refused while the other slot is armed', () => {
    expect(planCommit(armedB, 'A').ok).toBe(false);
  });

  it('revert during a trial sets bootcount=bootlimit so the next boot runs altbootcmd', () => {
    const p = planRevert(trialB, 'B');
    expect(p).toEqual({ ok: true, write: { bootcount: '3' } });
    const next = runBootScript({ ...trialB, bootcount: '3' });
    expect(next).toMatchObject({ slot: 'A', fellBack: true });
    expect(planRevert({ ...trialB, bootcount: '3' }, 'B')).toEqual({ ok: true, write: null });
  });

  it('revert before the reboot disarms; with nothing armed it does nothing', () => {
    expect(planRevert(armedB, 'A')).toEqual({ ok: true, write: { boot_part: 'A', upgrade_available: '0', bootcount: '0' } });
    expect(planRevert(committedA, 'A')).toEqual({ ok: true, write: null });
  });
});
