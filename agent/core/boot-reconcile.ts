// What a start finds, set against what the agent saved: which slot runs, whether it is an uncommitted trial, whether
// a slot is armed (PlatformAdapter.bootStatus()). Pure. The firmware machine's `booted` moves decide from this for
// every saved state, so a power cut between any side effect and the save that records it resumes correctly.

import { otherSlot, type BootStatus, type SlotName } from './ports.js';

/** What this file reads of the saved FirmwareState (structural, so firmware-machine.ts can import this file). */
export interface SavedAttempt {
  phase: string;
  step: string | null;
  target: SlotName | null;
  from: SlotName | null;
  verifyStarts: number;
}

export type BootFinding =
  /** no trial and nothing armed, as the saved state expects */
  | { kind: 'as-saved' }
  /** running the slot being tried, uncommitted (`target` is that slot) */
  | { kind: 'trial-of-target'; target: SlotName }
  /** running the slot being tried, already committed */
  | { kind: 'target-committed' }
  /** the slot to try is armed; the reboot into it has not happened yet */
  | { kind: 'target-armed'; target: SlotName }
  /** back on the previous slot: the trial ended (the boot counter ran out, or the trial was reverted) */
  | { kind: 'fell-back' }
  /** a trial the saved state knows nothing of (a lost or quarantined state file, another tool) */
  | { kind: 'foreign-trial' }
  /** an armed slot the saved state knows nothing of (an activation that failed after writing, another tool) */
  | { kind: 'foreign-armed' };

/**
 * Compares the saved state with the bootloader's view.
 * - Before any activation (idle, downloading, downloaded, flashing, resetting) no trial and no armed slot is expected.
 * - While activating the target is not saved yet: a trial or an armed slot can only be the one this activation armed
 *   (activation is refused during a trial, and a pending slot blocks writing the inactive slot).
 * - From rebooting on, the saved target says where the device should come up.
 */
export function findBoot(s: SavedAttempt, boot: BootStatus): BootFinding {
  const step = s.phase === 'updating' ? s.step : null;
  if (step === 'activating') {
    if (boot.trial) return { kind: 'trial-of-target', target: boot.booted };
    if (boot.pending !== null) return { kind: 'target-armed', target: boot.pending };
    return { kind: 'as-saved' };
  }
  if (s.target === null || step === null || step === 'flashing' || step === 'resetting') {
    if (boot.trial) return { kind: 'foreign-trial' };
    if (boot.pending !== null) return { kind: 'foreign-armed' };
    return { kind: 'as-saved' };
  }
  if (boot.booted === s.target) return boot.trial ? { kind: 'trial-of-target', target: s.target } : { kind: 'target-committed' };
  if (boot.pending === s.target) return { kind: 'target-armed', target: s.target };
  return { kind: 'fell-back' };
}

/** The slot a trial falls back to. */
export const fallbackOf = (s: SavedAttempt, boot: BootStatus): SlotName => s.from ?? (s.target ? otherSlot(s.target) : boot.booted);

/**
 * Why the device is back on its previous slot, from how far the saved attempt got: a firmware that never reached the
 * agent, one that reached its health check but never finished it, one that passed but was never committed.
 */
export function fallbackReason(s: SavedAttempt, boot: BootStatus): { code: 'boot-failed' | 'health-check-failed' | 'commit-failed'; reason: string } {
  const slot = s.target ?? '?';
  const back = `the bootloader fell back to slot ${boot.booted} (boot counter exhausted)`;
  if (s.step === 'verifying') {
    const n = Math.max(1, s.verifyStarts);
    return {
      code: 'health-check-failed',
      reason: `the new firmware in slot ${slot} reached its health check ${n === 1 ? 'once' : `${n} times`} but the device restarted before the check finished (power loss or a crash); ${back}`,
    };
  }
  if (s.step === 'committing')
    return { code: 'commit-failed', reason: `the new firmware in slot ${slot} passed its health check, but the device restarted before the commit landed; ${back}` };
  return { code: 'boot-failed', reason: `the new firmware in slot ${slot} never came up; ${back}` };
}
