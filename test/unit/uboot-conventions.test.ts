// Mender's and RAUC's conventions as pure plans: what each verb writes from each state, what is refused, and what
// the start-of-boot bookkeeping and the configuration checks say. (Their boot behaviour is proven in
// test/contract/uboot-conventions.contract.test.ts against the boot logic itself.)
import { describe, expect, it } from 'vitest';
import { menderConvention } from '../../platform/uboot/mender.js';
import { raucConvention } from '../../platform/uboot/rauc.js';

describe('Mender convention', () => {
  const m = menderConvention({ parts: { A: 2, B: 3 } });
  const committedA = { mender_boot_part: '2', mender_boot_part_hex: '2', upgrade_available: '0', bootcount: '0', bootlimit: '1' };
  const armedB = { ...committedA, mender_boot_part: '3', mender_boot_part_hex: '3', upgrade_available: '1' };

  it('reads trial and pending from mender_boot_part and upgrade_available', () => {
    expect(m.bootState(committedA, 'A')).toEqual({ trial: false, pending: null });
    expect(m.bootState(armedB, 'A')).toEqual({ trial: false, pending: 'B' });
    expect(m.bootState(armedB, 'B')).toEqual({ trial: true, pending: null });
    // a fallback: U-Boot's altbootcmd swapped the partition back and ended the upgrade
    expect(m.bootState({ ...committedA, bootcount: '2' }, 'A')).toEqual({ trial: false, pending: null });
  });

  it('activates as the Mender client does (both partition variables, one write), once', () => {
    expect(m.planActivate(committedA, 'A')).toEqual({ ok: true, write: { mender_boot_part: '3', mender_boot_part_hex: '3', upgrade_available: '1', bootcount: '0' } });
    expect(m.planActivate(armedB, 'A')).toEqual({ ok: true, write: null });
    expect(m.planActivate(armedB, 'B')).toMatchObject({ ok: false });
    // bootlimit 0 (or none) would make U-Boot never fall back: Mender's default goes with the activation
    expect(m.planActivate({ ...committedA, bootlimit: '0' }, 'A')).toMatchObject({ ok: true, write: { bootlimit: '1' } });
    expect(menderConvention({ parts: { A: 2, B: 3 }, bootlimit: 3 }).planActivate(committedA, 'A')).toMatchObject({ ok: true, write: { bootlimit: '3' } });
    // partition numbers above 9: decimal in mender_boot_part, hex in mender_boot_part_hex
    expect(menderConvention({ parts: { A: 10, B: 11 } }).planActivate({ ...committedA, mender_boot_part: '10' }, 'A')).toMatchObject({ write: { mender_boot_part: '11', mender_boot_part_hex: 'b' } });
  });

  it('commits, reverts and refuses like fota\'s own convention', () => {
    expect(m.planCommit(armedB, 'B')).toEqual({ ok: true, write: { upgrade_available: '0', bootcount: '0', mender_boot_part: '3', mender_boot_part_hex: '3' } });
    expect(m.planCommit(armedB, 'A')).toMatchObject({ ok: false });
    expect(m.planCommit(committedA, 'A')).toEqual({ ok: true, write: null });
    expect(m.planRevert({ ...armedB, bootcount: '0', bootlimit: '3' }, 'B')).toEqual({ ok: true, write: { bootcount: '3' } });
    expect(m.planRevert(armedB, 'A')).toEqual({ ok: true, write: { mender_boot_part: '2', mender_boot_part_hex: '2', upgrade_available: '0', bootcount: '0' } });
  });

  it('a U-Boot that never saved its environment where fw_env.config points is a configuration problem (the canary)', () => {
    expect(m.problem!({ ...committedA, mender_check_saveenv_canary: '1' })).toMatch(/U-Boot has never saved its environment/);
    expect(m.problem!({ ...committedA, mender_check_saveenv_canary: '1', mender_saveenv_canary: '1' })).toBeUndefined();
    expect(m.problem!({ ...committedA, mender_boot_part: '5' })).toMatch(/neither slot A's partition \(2\) nor slot B's \(3\)/);
  });
});

describe('RAUC convention', () => {
  const r = raucConvention();
  const committedA = { BOOT_ORDER: 'A B', BOOT_A_LEFT: '2', BOOT_B_LEFT: '3' };

  it('arms the other slot as rauc status mark-active does, plus fota\'s trial marker', () => {
    expect(r.planActivate(committedA, 'A')).toEqual({ ok: true, write: { BOOT_ORDER: 'B A', BOOT_B_LEFT: '3', fota_trial: 'B' } });
    const armed = { BOOT_ORDER: 'B A', BOOT_A_LEFT: '2', BOOT_B_LEFT: '3', fota_trial: 'B' };
    expect(r.bootState(armed, 'A')).toEqual({ trial: false, pending: 'B' });
    expect(r.planActivate(armed, 'A')).toEqual({ ok: true, write: null });
    // a third bootname (a recovery slot) keeps its place after the two
    expect(r.planActivate({ ...committedA, BOOT_ORDER: 'A B R' }, 'A')).toMatchObject({ write: { BOOT_ORDER: 'B A R' } });
  });

  it('a trial is the marked slot running; mark-good commits it; mark-bad reverts it', () => {
    const trialB = { BOOT_ORDER: 'B A', BOOT_A_LEFT: '2', BOOT_B_LEFT: '2', fota_trial: 'B' };
    expect(r.bootState(trialB, 'B')).toEqual({ trial: true, pending: null });
    expect(r.planActivate(trialB, 'B')).toMatchObject({ ok: false });
    expect(r.planCommit(trialB, 'B')).toEqual({ ok: true, write: { BOOT_ORDER: 'B A', BOOT_B_LEFT: '3', fota_trial: null } });
    expect(r.planRevert(trialB, 'B')).toEqual({ ok: true, write: { BOOT_B_LEFT: '0' } });
    // still a trial until the reboot, then A boots: B has no attempts left, so nothing is pending
    expect(r.bootState({ ...trialB, BOOT_B_LEFT: '0' }, 'B')).toEqual({ trial: true, pending: null });
    expect(r.bootState({ ...trialB, BOOT_B_LEFT: '0' }, 'A')).toEqual({ trial: false, pending: null });
  });

  it('at start outside a trial it marks the booted slot good, as rauc-mark-good.service does, and forgets a failed trial', () => {
    expect(r.planStart!(committedA, 'A')).toEqual({ ok: true, write: { BOOT_A_LEFT: '3' } });
    expect(r.planStart!({ ...committedA, BOOT_A_LEFT: '3' }, 'A')).toEqual({ ok: true, write: null });
    expect(r.planStart!({ BOOT_ORDER: 'B A', BOOT_A_LEFT: '2', BOOT_B_LEFT: '0', fota_trial: 'B' }, 'A')).toEqual({ ok: true, write: { BOOT_A_LEFT: '3', fota_trial: null, BOOT_ORDER: 'A B' } });
    // never during fota's own trial: that is the health check's decision
    expect(r.planStart!({ BOOT_ORDER: 'B A', BOOT_A_LEFT: '3', BOOT_B_LEFT: '2', fota_trial: 'B' }, 'B')).toEqual({ ok: true, write: null });
  });

  it('other bootnames and attempt counts; a BOOT_ORDER without the slots is a configuration problem', () => {
    const named = raucConvention({ bootnames: { A: 'system0', B: 'system1' }, attempts: 5 });
    expect(named.planActivate({ BOOT_ORDER: 'system0 system1' }, 'A')).toEqual({ ok: true, write: { BOOT_ORDER: 'system1 system0', BOOT_system1_LEFT: '5', fota_trial: 'system1' } });
    expect(r.problem!({ BOOT_ORDER: 'system0 system1' })).toMatch(/does not list slot A's bootname "A"/);
    expect(r.problem!({})).toBeUndefined(); // unset: the boot script's default "A B"
  });
});
