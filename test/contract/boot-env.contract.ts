// The BootEnv contract: what every implementation (FileBootEnv, FwToolsBootEnv) must do on a file-backed
// environment. The fixture makes a fresh environment with u-boot-tools' mkenvimage for each test.
import { readFile, writeFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BootEnvError, type BootEnv } from '../../platform/uboot/boot-env.js';

export interface BootEnvFixture {
  env: BootEnv;
  /** the file holding the environment (both copies when redundant) */
  file: string;
  /** copy size in bytes */
  size: number;
  cleanup(): Promise<void>;
}

/** Builds a fixture whose environment initially holds exactly `vars`. */
export type MakeBootEnvFixture = (vars: Record<string, string>) => Promise<BootEnvFixture>;

export const INITIAL = { boot_part: 'A', bootcount: '0', bootlimit: '3', upgrade_available: '0', bootcmd: 'run distro_bootcmd' };

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

export function bootEnvContract(name: string, layout: { redundant: boolean }, make: MakeBootEnvFixture): void {
  describe(`BootEnv contract: ${name}`, () => {
    let fx: BootEnvFixture;
    beforeEach(async () => {
      fx = await make(INITIAL);
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('reads every variable of the environment', async () => {
      expect(await fx.env.read()).toEqual(INITIAL);
    });

    it('writes several variables in one call and keeps the others', async () => {
      await fx.env.write({ boot_part: 'B', upgrade_available: '1', bootcount: '0', fota_new: 'x y=z "q"' });
      expect(await fx.env.read()).toEqual({ ...INITIAL, boot_part: 'B', upgrade_available: '1', bootcount: '0', fota_new: 'x y=z "q"' });
    });

    it('deletes a variable given null or an empty value', async () => {
      await fx.env.write({ bootcmd: null, bootlimit: '' });
      const vars = await fx.env.read();
      expect(vars).not.toHaveProperty('bootcmd');
      expect(vars).not.toHaveProperty('bootlimit');
      expect(vars['boot_part']).toBe('A');
    });

    it('is idempotent: the same write twice leaves the same environment', async () => {
      await fx.env.write({ boot_part: 'B', upgrade_available: '1' });
      const once = await fx.env.read();
      await fx.env.write({ boot_part: 'B', upgrade_available: '1' });
      expect(await fx.env.read()).toEqual(once);
    });

    it('serialises concurrent writes: none is lost', async () => {
      await Promise.all([fx.env.write({ a: '1' }), fx.env.write({ b: '2' }), fx.env.write({ c: '3' })]);
      expect(await fx.env.read()).toMatchObject({ a: '1', b: '2', c: '3' });
    });

    it('rejects a bad variable name without touching the environment', async () => {
      const before = await readFile(fx.file);
      for (const bad of ['a=b', 'with space', '']) {
        const e = await rejection(fx.env.write({ ok: '1', [bad]: 'x' }));
        expect(e).toBeInstanceOf(BootEnvError);
        expect((e as BootEnvError).reason).toBe('invalid');
      }
      expect(Buffer.compare(await readFile(fx.file), before)).toBe(0);
    });

    it('rejects a write that does not fit and leaves the environment as it was', async () => {
      const big: Record<string, string> = {};
      for (let i = 0; i < Math.ceil(fx.size / 900) + 2; i++) big[`fill${i}`] = 'x'.repeat(900);
      const e = await rejection(fx.env.write(big));
      expect(e).toBeInstanceOf(BootEnvError);
      expect(await fx.env.read()).toEqual(INITIAL);
    });

    it('reports a corrupted environment as bad-crc and never overwrites it', async () => {
      const bytes = await readFile(fx.file);
      for (let copy = 0; copy < (layout.redundant ? 2 : 1); copy++) bytes[copy * fx.size + 10]! ^= 0xff;
      await writeFile(fx.file, bytes);
      const r = await rejection(fx.env.read());
      expect(r).toBeInstanceOf(BootEnvError);
      expect((r as BootEnvError).reason).toBe('bad-crc');
      const w = await rejection(fx.env.write({ boot_part: 'B' }));
      expect(w).toBeInstanceOf(BootEnvError);
      expect(Buffer.compare(await readFile(fx.file), bytes)).toBe(0);
    });

    if (!layout.redundant) return;

    it('redundant: a write goes to the other copy, so a cut write leaves the previous state readable', async () => {
      await fx.env.write({ boot_part: 'B' });
      const afterFirst = await readFile(fx.file);
      await fx.env.write({ boot_part: 'A', upgrade_available: '1' });
      const afterSecond = await readFile(fx.file);
      // exactly one copy changed with each write
      const changed = [0, 1].filter((c) => Buffer.compare(afterFirst.subarray(c * fx.size, (c + 1) * fx.size), afterSecond.subarray(c * fx.size, (c + 1) * fx.size)) !== 0);
      expect(changed).toHaveLength(1);
      // simulate a power cut in the middle of the second write: its copy is garbage
      const torn = Buffer.from(afterSecond);
      torn.fill(0xa5, changed[0]! * fx.size + 100, changed[0]! * fx.size + 200);
      await writeFile(fx.file, torn);
      expect(await fx.env.read()).toEqual({ ...INITIAL, boot_part: 'B' });
    });
  });
}
