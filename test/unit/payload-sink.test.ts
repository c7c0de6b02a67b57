// The payload sink's checkpoints (package-stream.ts): the fdatasync of a checkpoint runs while the next chunks are
// written, the resume point is recorded only once it returned, at most one is in flight, and its error surfaces.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PayloadSink, type ResumePoint } from '../../agent/adapters/package-stream.js';
import type { SlotWriter } from '../../agent/core/ports.js';
import type { Manifest } from '../../protocol/package-format.js';

const SIZE = 10 * 1024;

/**
 * A slot writer whose fdatasyncs end when the test says so; one that checks the image (`checks`) finishes as its
 * `finished` says (its verdict on the image).
 */
function slot(checks?: { finished: () => Promise<void> }) {
  const syncs: { at: number; done: () => void; fail: (e: Error) => void }[] = [];
  let position = 0;
  const writer: SlotWriter = {
    get position() {
      return position;
    },
    ...(checks ? { checksImage: true } : {}),
    write: async (c) => void (position += c.length),
    sync: () => new Promise<void>((done, fail) => syncs.push({ at: position, done, fail })),
    finish: async () => checks?.finished(),
    abort: async () => {},
  };
  return { writer, syncs };
}

function sink(writer: SlotWriter, points: ResumePoint[], signal?: AbortSignal): PayloadSink {
  const data = Buffer.alloc(SIZE, 7);
  const m = { payload: { size: SIZE, sha256: createHash('sha256').update(data).digest('hex'), compression: 'none' } } as unknown as Manifest;
  return new PayloadSink(m, writer, { slot: { open: async () => writer }, checkpointBytes: 1024, checkpoint: (p) => points.push(p), ...(signal ? { signal } : {}) }, { manifest: '{}', signature: null, payloadOffset: 512 }, createHash('sha256'), 0);
}

const chunk = () => Buffer.alloc(512, 7);
const turn = () => new Promise((r) => setImmediate(r));

describe('PayloadSink checkpoints', () => {
  it('writes on while a checkpoint’s fdatasync runs, and records the point only once it returned', async () => {
    const { writer, syncs } = slot();
    const points: ResumePoint[] = [];
    const s = sink(writer, points);
    await s.write(chunk());
    await s.write(chunk()); // 1024: a checkpoint is due
    expect(syncs.map((x) => x.at)).toEqual([1024]);
    await s.write(chunk()); // not held up by the fdatasync
    expect(writer.position).toBe(1536);
    expect(points).toEqual([]);
    // the next checkpoint waits for the one in flight, then starts its own
    const fourth = s.write(chunk());
    await turn();
    expect(syncs).toHaveLength(1);
    syncs[0]!.done();
    await fourth;
    expect(points.map((p) => p.written)).toEqual([1024]);
    expect(points[0]!.writtenSha256).toBe(createHash('sha256').update(Buffer.alloc(1024, 7)).digest('hex'));
    expect(syncs.map((x) => x.at)).toEqual([1024, 2048]);
  });

  it('throws a failed fdatasync at the next checkpoint, and at finish()', async () => {
    const { writer, syncs } = slot();
    const s = sink(writer, []);
    await s.write(chunk());
    await s.write(chunk());
    syncs[0]!.fail(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await s.write(chunk());
    await expect(s.write(chunk())).rejects.toThrow(/EIO/);

    const last = slot();
    const t = sink(last.writer, []);
    for (let i = 0; i < SIZE / 512; i++) {
      // each checkpoint (every other chunk) finds the one before it synced; the last one stays in flight
      if (i % 2 === 1 && (i + 1) * 512 < SIZE) last.syncs.at(-1)?.done();
      await t.write(chunk());
    }
    // the last checkpoint is at 9216 (none at the end: finish() syncs); fail it
    expect(last.syncs.map((x) => x.at).at(-1)).toBe(9216);
    last.syncs.at(-1)!.fail(new Error('EIO at the end'));
    await expect(t.finish()).rejects.toThrow(/EIO at the end/);
  });

  it('records no checkpoint once the download was aborted', async () => {
    const { writer, syncs } = slot();
    const points: ResumePoint[] = [];
    const ac = new AbortController();
    const s = sink(writer, points, ac.signal);
    await s.write(chunk());
    await s.write(chunk());
    ac.abort();
    syncs[0]!.done();
    await turn();
    await s.write(chunk());
    await s.write(chunk());
    expect(points).toEqual([]);
    expect(syncs).toHaveLength(1);
  });

  /** Writes the whole payload in 512-byte chunks of `fill`, letting each checkpoint's fdatasync end at the next one. */
  async function feed(s: PayloadSink, syncs: { done: () => void }[], fill: number): Promise<void> {
    for (let i = 0; i < SIZE / 512; i++) {
      syncs.at(-1)?.done();
      await s.write(Buffer.alloc(512, fill));
    }
    syncs.at(-1)?.done();
    await turn();
  }

  it('leaves the image check to a writer that checks it: hashes nothing, its checkpoints carry no digest, finish() is its verdict', async () => {
    // bytes that do not hash to the manifest's SHA-256: the sink does not look, the writer's finish() decides
    const good = slot({ finished: async () => {} });
    const points: ResumePoint[] = [];
    const s = sink(good.writer, points);
    await feed(s, good.syncs, 9);
    expect(points.map((p) => p.written)).toEqual(good.syncs.map((x) => x.at));
    expect(points.length).toBeGreaterThan(3);
    for (const p of points) expect(p).not.toHaveProperty('writtenSha256');
    await expect(s.finish()).resolves.toMatchObject({ payloadSize: SIZE });

    const bad = slot({ finished: async () => Promise.reject(new Error('payload SHA-256 mismatch (read back)')) });
    const t = sink(bad.writer, []);
    await feed(t, bad.syncs, 7);
    await expect(t.finish()).rejects.toThrow(/read back/);
  });

  it('hashes what it is handed when the writer does not check the image, and refuses bytes off the manifest’s SHA-256', async () => {
    const { writer, syncs } = slot();
    const s = sink(writer, []);
    await feed(s, syncs, 9);
    await expect(s.finish()).rejects.toMatchObject({ code: 'integrity-mismatch', message: expect.stringMatching(/SHA-256 mismatch/) });
  });
});
