// The factory image a Factory Reset installs: from a file or a read-only partition (a loop device where the machine
// allows it), whole or a configured size; with a configured SHA-256 a corrupted copy fails while it streams, so the
// flash fails and nothing is activated; and through a platform it takes the update's path: the slot's read-back
// checks it against that hash, then activation, a trial boot and a commit (the contract suites run that part).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { factoryImageSource } from '../../platform/factory-image.js';
import { makeTestSlot, type TestSlot } from '../helpers/slot-devices.js';
import { makeUBootBoard } from '../helpers/uboot-fixture.js';
import { simImage } from '../contract/platform.contract.js';

async function drain(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

describe('factory images', () => {
  let dir: string;
  let part: TestSlot;
  const image = randomBytes(300_000);
  const sha256 = createHash('sha256').update(image).digest('hex');
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fota-factory-'));
    // a partition holding the image at its start, the rest of it unused
    part = await makeTestSlot(join(dir, 'factory.part'), 1024 * 1024, { content: image });
  });
  afterEach(async () => {
    await part.release();
    await rm(dir, { recursive: true, force: true });
  });

  it('from a partition: the whole partition, or the configured size', async () => {
    const whole = await factoryImageSource({ path: part.path, version: '1.0.0' })();
    expect(whole?.size).toBe(1024 * 1024);
    const sized = await factoryImageSource({ path: part.path, version: '1.0.0', size: image.length, sha256: sha256.toUpperCase() })();
    expect(sized).toMatchObject({ size: image.length, version: '1.0.0', sha256 });
    expect((await drain(sized!.open())).equals(image)).toBe(true);
    // a size larger than the partition is no factory image at all (Factory Reset then answers 4.05)
    expect(await factoryImageSource({ path: part.path, version: '1.0.0', size: 2 * 1024 * 1024 })()).toBeUndefined();
  });

  it('a copy that does not match its SHA-256 fails at the end of the stream', async () => {
    const bad = Buffer.from(image);
    bad[123_456] = bad[123_456]! ^ 1;
    const file = join(dir, 'factory.img');
    await writeFile(file, bad);
    const img = await factoryImageSource({ path: file, version: '1.0.0', sha256 })();
    await expect(drain(img!.open())).rejects.toMatchObject({ code: 'integrity-mismatch', message: expect.stringMatching(/it is corrupted/) });
  });

  it('through the platform: the read-back of the slot is checked against the factory image hash', async () => {
    const board = await makeUBootBoard('fota', false);
    try {
      const factory = simImage('1.0.0', 32 * 1024);
      const file = join(board.dir, 'factory.img');
      await writeFile(file, factory);
      const good = createHash('sha256').update(factory).digest('hex');
      const p = (await import('../../platform/registry.js')).createPlatform('uboot', { ...board.options, factoryImage: { path: file, version: '1.0.0', sha256: good } });
      const img = (await p.factoryImage())!;
      // a slot that does not end up holding what the hash says is refused before anything is activated
      const w2 = await p.openInactiveSlot({ size: img.size, sha256: createHash('sha256').update('other').digest('hex') });
      await w2.write(factory);
      await expect(w2.finish()).rejects.toMatchObject({ code: 'integrity-mismatch' });
      await w2.abort();
      const w = await p.openInactiveSlot({ size: img.size, sha256: img.sha256! });
      for await (const c of img.open()) await w.write(c);
      await w.finish();
      await p.activateInactiveSlot();
      await p.reboot('factory reset');
      expect(await board.boot()).toEqual({ slot: 'B', trial: true });
    } finally {
      await board.cleanup();
    }
  });
});
