// The PlatformAdapter contract: what every board backend must do, driven through boots of its bootloader (simulated,
// or its real boot logic in an interpreter). A fixture starts with slot A booted and committed, holding a simulated
// image of version 1.0.0; its boot() runs the bootloader and makes the platform see the new boot, reading the booted
// firmware version from the simulated image header in the slot. Where the agent would reboot, the tests call
// platform.reboot() first: a bootloader such as the Pi's tryboot learns the trial from the reboot itself.
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FotaError } from '../../agent/core/errors.js';
import { otherSlot, type PlatformAdapter, type SlotName } from '../../agent/core/ports.js';
import { encodeSimImageHeader, SIM_HEADER_SIZE } from '../../platform/simulator/image-header.js';

export interface PlatformFixture {
  /** the adapter as the running agent would have it */
  platform: PlatformAdapter;
  /** a fresh adapter on the same device, as after an agent restart or a power cut */
  restart(): PlatformAdapter;
  /**
   * The device starts again: after the reboot requested through the platform since the last boot (with its
   * argument), or as after a power cut or a watchdog reset when none was. The bootloader runs once; returns what it booted.
   */
  boot(): Promise<{ slot: SlotName; trial: boolean }>;
  /** trial boots the bootloader gives an uncommitted slot before it falls back (bootlimit; 1 for tryboot) */
  trialBoots: number;
  /** the first `length` bytes of a slot, read behind the platform's back */
  readSlot(slot: SlotName, length: number): Promise<Buffer>;
  /** how many times a reboot was requested through the platform */
  reboots(): Promise<number>;
  /** bytes per slot */
  capacity: number;
  cleanup(): Promise<void>;
}

export type MakePlatformFixture = () => Promise<PlatformFixture>;

/**
 * What a fixture whose slots are files in `dir` and whose reboot command appends one byte per reboot to `rebootLog`
 * gives the contract: a slot's first bytes, the reboot count, and removing it all.
 */
export function fileBoardAccess(dir: string, slots: Record<SlotName, string>, rebootLog: string): Pick<PlatformFixture, 'readSlot' | 'reboots' | 'cleanup'> {
  return {
    readSlot: async (slot, length) => (await readFile(slots[slot])).subarray(0, length),
    reboots: async () => (await readFile(rebootLog, 'utf8')).length,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A simulated image (header + random bytes) of `size` bytes. */
export function simImage(version: string, size = 64 * 1024): Buffer {
  return Buffer.concat([encodeSimImageHeader({ version, size, broken: false }), randomBytes(size - SIM_HEADER_SIZE)]);
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(FotaError);
    return (e as FotaError).code;
  }
  throw new Error('expected a FotaError');
}

/** Writes `image` into the inactive slot in uneven chunks and finishes it. */
async function install(platform: PlatformAdapter, image: Buffer): Promise<void> {
  const w = await platform.openInactiveSlot({ size: image.length });
  for (let at = 0; at < image.length; at += 10_000) await w.write(image.subarray(at, Math.min(at + 10_000, image.length)));
  await w.finish();
}

export function platformContract(name: string, make: MakePlatformFixture): void {
  describe(`PlatformAdapter contract: ${name}`, () => {
    let fx: PlatformFixture;
    let p: PlatformAdapter;
    beforeEach(async () => {
      fx = await make();
      p = fx.platform;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('starts on slot A, committed, with the version of the image in it', async () => {
      expect(await p.bootStatus()).toEqual({ booted: 'A', trial: false, pending: null, firmwareVersion: '1.0.0' });
      expect(await p.bootStatus()).toEqual({ booted: 'A', trial: false, pending: null, firmwareVersion: '1.0.0' });
      expect(await p.inactiveSlotCapacity()).toBe(fx.capacity);
      expect(await p.inactiveSlotCapacity()).toBe(fx.capacity);
    });

    it('writes, syncs and reads back the inactive slot, and never touches the booted one', async () => {
      const bootedBefore = await fx.readSlot('A', 64 * 1024);
      const image = simImage('2.0.0');
      const w = await p.openInactiveSlot({ size: image.length });
      expect(w.position).toBe(0);
      await w.write(image.subarray(0, 30_000));
      expect(w.position).toBe(30_000);
      await w.sync();
      await w.sync();
      await w.write(image.subarray(30_000));
      await w.finish();
      await w.finish();
      await w.abort(); // after finish: a no-op, never throws
      expect(await collect(p.readInactiveSlot(image.length))).toEqual(image);
      expect(await fx.readSlot('B', image.length)).toEqual(image);
      expect(await fx.readSlot('A', 64 * 1024)).toEqual(bootedBefore);
    });

    it('resumes a write at an offset', async () => {
      const image = simImage('2.0.0');
      const first = await p.openInactiveSlot({ size: image.length });
      await first.write(image.subarray(0, 20_000));
      await first.sync();
      await first.abort();
      await first.abort();
      const again = await fx.restart().openInactiveSlot({ size: image.length, offset: 20_000 });
      expect(again.position).toBe(20_000);
      await again.write(image.subarray(20_000));
      await again.finish();
      expect(await collect(p.readInactiveSlot(image.length))).toEqual(image);
    });

    it('refuses an image larger than the slot, and a write past its end, with no-space', async () => {
      expect(await codeOf(p.openInactiveSlot({ size: fx.capacity + 1 }))).toBe('no-space');
      const w = await p.openInactiveSlot({ size: fx.capacity, offset: fx.capacity - 10 });
      expect(await codeOf(w.write(new Uint8Array(11)))).toBe('no-space');
      await w.abort();
    });

    it('activate arms the other slot for the next boot only; calling it twice changes nothing', async () => {
      await install(p, simImage('2.0.0'));
      await p.activateInactiveSlot();
      await p.activateInactiveSlot();
      expect(await p.bootStatus()).toEqual({ booted: 'A', trial: false, pending: 'B', firmwareVersion: '1.0.0' });
      // the armed slot must not be rewritten before its boot
      expect(await codeOf(p.openInactiveSlot({ size: 1024 }))).toBe('io-error');
      await p.reboot('trial');
      expect(await fx.boot()).toEqual({ slot: 'B', trial: true });
      expect(await p.bootStatus()).toEqual({ booted: 'B', trial: true, pending: null, firmwareVersion: '2.0.0' });
    });

    it('activate → boot → commit makes the new slot the default; commit twice changes nothing', async () => {
      await install(p, simImage('2.0.0'));
      await p.activateInactiveSlot();
      await p.reboot('trial');
      await fx.boot();
      await p.commitBootedSlot();
      await p.commitBootedSlot();
      expect(await p.bootStatus()).toEqual({ booted: 'B', trial: false, pending: null, firmwareVersion: '2.0.0' });
      expect(await fx.boot()).toEqual({ slot: 'B', trial: false });
      expect(await fx.boot()).toEqual({ slot: 'B', trial: false });
      expect(await p.bootStatus()).toEqual({ booted: 'B', trial: false, pending: null, firmwareVersion: '2.0.0' });
      // and the old slot is now the inactive one
      const bootedBefore = await fx.readSlot('B', 64 * 1024);
      const v3 = simImage('3.0.0');
      await install(p, v3);
      expect(await fx.readSlot('A', v3.length)).toEqual(v3);
      expect(await fx.readSlot('B', 64 * 1024)).toEqual(bootedBefore);
    });

    it('during a trial the fallback slot cannot be written or armed', async () => {
      await install(p, simImage('2.0.0'));
      await p.activateInactiveSlot();
      await p.reboot('trial');
      await fx.boot();
      expect(await codeOf(p.openInactiveSlot({ size: 1024 }))).toBe('io-error');
      expect(await codeOf(p.activateInactiveSlot())).toBe('activation-failed');
      expect(await p.bootStatus()).toMatchObject({ booted: 'B', trial: true, pending: null });
    });

    it('activate → boot → revertTrial → boot falls back to the committed slot; revert twice changes nothing', async () => {
      await install(p, simImage('2.0.0'));
      await p.activateInactiveSlot();
      await p.reboot('trial');
      await fx.boot();
      await p.revertTrial();
      await p.revertTrial();
      // still running the trial until the reboot
      expect(await p.bootStatus()).toMatchObject({ booted: 'B', trial: true });
      await p.reboot('revert');
      expect(await fx.boot()).toEqual({ slot: 'A', trial: false });
      expect(await p.bootStatus()).toEqual({ booted: 'A', trial: false, pending: null, firmwareVersion: '1.0.0' });
      await p.revertTrial(); // nothing left to revert
      expect(await fx.boot()).toEqual({ slot: 'A', trial: false });
    });

    it('revertTrial before the reboot disarms the pending slot', async () => {
      await install(p, simImage('2.0.0'));
      await p.activateInactiveSlot();
      await p.revertTrial();
      expect(await p.bootStatus()).toEqual({ booted: 'A', trial: false, pending: null, firmwareVersion: '1.0.0' });
      await p.reboot('revert');
      expect(await fx.boot()).toEqual({ slot: 'A', trial: false });
    });

    it('power cut between activation and reboot: a new process sees it pending, re-activates, and the trial happens', async () => {
      await install(p, simImage('2.0.0'));
      await p.activateInactiveSlot();
      const after = fx.restart();
      expect(await after.bootStatus()).toMatchObject({ booted: 'A', pending: 'B', trial: false });
      await after.activateInactiveSlot();
      await after.reboot('trial');
      expect(await fx.boot()).toEqual({ slot: 'B', trial: true });
      expect(await fx.restart().bootStatus()).toEqual({ booted: 'B', trial: true, pending: null, firmwareVersion: '2.0.0' });
    });

    it('the bootloader falls back after its trial boots (bootlimit) without a commit: resets, as a watchdog does', async () => {
      await install(p, simImage('2.0.0'));
      await p.activateInactiveSlot();
      await p.reboot('trial');
      for (let i = 1; i <= fx.trialBoots; i++) {
        expect(await fx.boot()).toEqual({ slot: 'B', trial: true });
        expect(await p.bootStatus()).toMatchObject({ booted: 'B', trial: true, pending: null });
      }
      expect(await fx.boot()).toEqual({ slot: 'A', trial: false });
      expect(await p.bootStatus()).toEqual({ booted: 'A', trial: false, pending: null, firmwareVersion: '1.0.0' });
      // the failed slot can be written again
      await install(p, simImage('2.0.1'));
    });

    it('commit and revert outside a trial leave a committed device as it is', async () => {
      await p.commitBootedSlot();
      await p.revertTrial();
      expect(await p.bootStatus()).toEqual({ booted: 'A', trial: false, pending: null, firmwareVersion: '1.0.0' });
      expect(await fx.boot()).toEqual({ slot: 'A', trial: false });
    });

    it('reboot requests a reboot each time it is called', async () => {
      await p.reboot('test');
      await p.reboot('test again');
      expect(await fx.reboots()).toBe(2);
    });

    it('factoryImage, when present, streams exactly its size and installs like any image', async () => {
      const f = await p.factoryImage();
      if (f === undefined) return;
      expect(f.version).toBe('1.0.0');
      const bytes = await collect(f.open());
      expect(bytes.length).toBe(f.size);
      const w = await p.openInactiveSlot({ size: f.size });
      for await (const c of f.open()) await w.write(c);
      await w.finish();
      await p.activateInactiveSlot();
      await p.reboot('factory reset');
      expect(await fx.boot()).toEqual({ slot: otherSlot('A'), trial: true });
      expect((await p.bootStatus()).firmwareVersion).toBe('1.0.0');
    });
  });
}
