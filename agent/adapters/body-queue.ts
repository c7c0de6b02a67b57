// A response body read in flowing mode ('data' events) into a small bounded queue that the download drains. node-fetch
// v3 pipes the response into a PassThrough (stream.pipeline); an early close destroys both with whatever sits in
// their buffers, and a paused reader (`for await`) leaves there every chunk that came while it was busy. Flowing,
// those buffers stay empty unless this queue is full, so every byte that arrived is yielded before the error.

import type { Readable } from 'node:stream';

/** What the queue stops and restarts when it is full and drained: the body itself, or the socket under it. */
export interface FlowControl {
  hold(): void;
  release(): void;
}

/**
 * INVARIANTS: `queued` is the sum of the lengths of `chunks`; the flow is held only while `queued` exceeds the bound
 * (`highWater`; 0 when pulling) and unbound() was not called; it is released once a take() brought `queued` to half of
 * the bound (when pulling: once a take() finds the queue empty and waits) or by unbound(); the end or the error is
 * surfaced only after every queued chunk was taken; at most one take() waits (`wake`); every event wakes it.
 */
export class BodyQueue {
  private readonly chunks: Buffer[] = [];
  private queued = 0;
  private paused = false;
  private unbounded = false;
  private ended = false;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;
  private readonly flow: FlowControl;
  private readonly pull: boolean;

  /**
   * Without `flow`, the queue pauses and resumes `body`, and holds up to `highWater` bytes. With a `flow` (the socket
   * under the body, wide-read-socket.ts) it *pulls*: the flow is released only when a take() finds the queue empty
   * and held as soon as a chunk arrives. A chunk then waits neither in node-fetch's pipeline nor here while the one
   * before it is being written (the kernel's socket buffer is the queue), so it is not aged by the minor GC that
   * follows each chunk (memory.ts): a chunk that outlives two is promoted, and its memory waits for a full GC.
   */
  constructor(
    body: Readable,
    private readonly highWater: number,
    flow?: FlowControl,
  ) {
    this.pull = flow !== undefined;
    this.flow = flow ?? { hold: () => body.pause(), release: () => body.resume() };
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
      if (this.pull) this.release();
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    const chunk = this.chunks.shift() as Buffer;
    this.queued -= chunk.length;
    if (!this.pull && this.queued <= this.highWater / 2) this.release();
    return chunk;
  }

  /**
   * Never holds the flow again (and releases it): for the last bytes of a download, so that a server that closes
   * right after them (a Content-Length that lies) loses none to a pause. The caller bounds what is left.
   */
  unbound(): void {
    this.unbounded = true;
    this.release();
  }

  private release(): void {
    if (!this.paused) return;
    this.paused = false;
    this.flow.release();
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
    if (!this.paused && !this.unbounded && this.queued > (this.pull ? 0 : this.highWater)) {
      this.paused = true;
      this.flow.hold();
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
