// A response body read in flowing mode ('data' events) into a small bounded queue that the download drains. node-fetch
// v3 pipes the response into a PassThrough (stream.pipeline); an early close destroys both with whatever sits in
// their buffers, and a paused reader (`for await`) leaves there every chunk that came while it was busy. Flowing,
// those buffers stay empty unless this queue is full, so every byte that arrived is yielded before the error.

import type { Readable } from 'node:stream';

/**
 * INVARIANTS: `queued` is the sum of the lengths of `chunks`; the body is paused only while `queued` exceeds
 * `highWater`, and resumed once a take() brought it to half of that or unbound() lifted the bound; the end or the
 * error is surfaced only after every queued chunk was taken; at most one take() waits (`wake`); every event wakes it.
 */
export class BodyQueue {
  private readonly chunks: Buffer[] = [];
  private queued = 0;
  private paused = false;
  private ended = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly body: Readable,
    private highWater: number,
  ) {
    body.on('data', this.onData);
    body.once('end', this.onEnd);
    body.once('error', this.onError);
    // destroyed without an error and without an end (an 'aborted' that pipeline reports late): a premature close
    body.once('close', this.onClose);
  }

  /** The next chunk; undefined at the end; rejects with the body's error once the queue is empty. */
  async take(): Promise<Buffer | undefined> {
    while (this.chunks.length === 0) {
      if (this.failure) throw this.failure.error;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    const chunk = this.chunks.shift() as Buffer;
    this.queued -= chunk.length;
    if (this.paused && this.queued <= this.highWater / 2) {
      this.paused = false;
      this.body.resume();
    }
    return chunk;
  }

  /**
   * Never pauses the body again (and resumes it): for the last bytes of a download, so that a server that closes
   * right after them (a Content-Length that lies) loses none to a pause. The caller bounds what is left.
   */
  unbound(): void {
    this.highWater = Infinity;
    if (this.paused) {
      this.paused = false;
      this.body.resume();
    }
  }

  /** Ends the queue with `error` (the owner's reason for destroying the body), kept over any later error. */
  fail(error: unknown): void {
    this.onError(error);
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private readonly onData = (chunk: Buffer) => {
    this.chunks.push(chunk);
    this.queued += chunk.length;
    if (!this.paused && this.queued > this.highWater) {
      this.paused = true;
      this.body.pause();
    }
    this.signal();
  };

  private readonly onEnd = () => {
    this.ended = true;
    this.signal();
  };

  private readonly onError = (error: unknown) => {
    this.failure ??= { error };
    this.signal();
  };

  private readonly onClose = () => {
    if (!this.ended) this.failure ??= { error: Object.assign(new Error('premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }) };
    this.signal();
  };
}
