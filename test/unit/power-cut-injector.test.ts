// The power-cut fault injector (agent/adapters/power-cut.ts) on its own: which operation it cuts after, by number or
// by kind, and what it leaves in the state folder for the sweep (test/system/power-cut.test.ts). process.kill is
// replaced here: the kill itself is the simulator's business.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { operationKind, POWER_CUT_ENV, POWER_CUT_FILES, powerCutInjector } from '../../agent/adapters/power-cut.js';
import type { Store } from '../../agent/core/ports.js';

let dir: string;
let kills: number;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fota-cut-'));
  kills = 0;
  vi.spyOn(process, 'kill').mockImplementation(() => (kills++, true));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

const store: Store<unknown> = { load: async () => undefined, save: async () => undefined };

/** three saves, then a slot's two syncs and its finish, through the injector made for `spec` */
async function run(spec: string): Promise<void> {
  const cut = powerCutInjector({ [POWER_CUT_ENV]: spec }, dir);
  if (!cut) throw new Error(`no injector for ${spec}`);
  const s = cut.store(store);
  for (const phase of ['idle', 'downloading', 'downloading']) await s.save({ phase });
  let position = 0;
  const slot = { get position() { return position; }, write: async (c: Uint8Array) => void (position += c.length), sync: async () => undefined, finish: async () => undefined, abort: async () => undefined };
  const platform = cut.platform({ openInactiveSlot: async () => slot } as never);
  const w = await platform.openInactiveSlot({ size: 8 });
  for (let i = 0; i < 2; i++) {
    await w.write(new Uint8Array(4));
    await w.sync();
  }
  await w.finish();
}

const file = (k: keyof typeof POWER_CUT_FILES) => readFile(join(dir, POWER_CUT_FILES[k]), 'utf8');

describe('the power-cut injector', () => {
  it('by number: cuts right after the N-th operation, once per state folder', async () => {
    await run('5');
    expect(kills).toBe(1);
    expect((await file('done')).trim()).toBe('5 slot synced at 8');
    expect((await file('trail')).trim().split('\n')).toHaveLength(5);
    expect(powerCutInjector({ [POWER_CUT_ENV]: '5' }, dir)).toBeUndefined();
  });

  it('by kind (after:KIND): cuts right after the first operation of that kind, whatever its number', async () => {
    await run('after:slot finished');
    expect(kills).toBe(1);
    expect((await file('done')).trim()).toBe('6 slot finished');
    await rm(dir, { recursive: true, force: true });
    dir = await mkdtemp(join(tmpdir(), 'fota-cut-'));
    await run('after:slot synced');
    expect((await file('done')).trim()).toBe('4 slot synced at 4');
  });

  it('a kind that never comes, a bad number or an empty kind cuts nothing', async () => {
    await run('after:reboot requested');
    expect(kills).toBe(0);
    for (const spec of ['0', '-1', '1.5', 'x', 'after:', '']) expect(powerCutInjector({ [POWER_CUT_ENV]: spec }, dir), spec).toBeUndefined();
  });

  it('kinds drop the details: offsets and the saved state', () => {
    expect(operationKind('slot synced at 1048576')).toBe('slot synced');
    expect(operationKind('state saved: downloading 40% (B)')).toBe('state saved');
    expect(operationKind('failure saved: idle result 8')).toBe('failure saved');
    expect(operationKind('environment written: slot armed')).toBe('environment written: slot armed');
  });
});
