// The hub's live events (GET /v1/events, text/event-stream) read with fetch rather than EventSource, so the request
// carries the CSRF header like every other. Reconnects with backoff; after each (re)connect the views reload what
// they show (events sent while disconnected are gone). One stream at a time.

import { apiHeaders } from './api.js';
import { EventParser } from './event-parser.js';

export type LiveHandler = (event: string, data: unknown) => void;

export class Live {
  private readonly handlers = new Set<LiveHandler>();
  private abort: AbortController | undefined;
  private job = '';
  private backoff = 1000;
  private timer: number | undefined;

  constructor(private readonly status: (text: string, ok: boolean) => void) {}

  on(fn: LiveHandler): () => void {
    this.handlers.add(fn);
    return () => this.handlers.delete(fn);
  }

  /** Follows the children of `job` as well ("" for none); reconnects when it changes. */
  follow(job: string): void {
    if (job === this.job && this.abort) return;
    this.job = job;
    this.connect();
  }

  private emit(event: string, data: unknown): void {
    for (const h of this.handlers) h(event, data);
  }

  private connect(): void {
    this.abort?.abort();
    clearTimeout(this.timer);
    const ctrl = new AbortController();
    this.abort = ctrl;
    void this.run(ctrl).catch(() => undefined).finally(() => {
      if (ctrl.signal.aborted) return;
      this.status('reconnecting…', false);
      this.timer = window.setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(10_000, this.backoff * 2);
    });
  }

  private async run(ctrl: AbortController): Promise<void> {
    const url = `/v1/events${this.job ? `?job=${encodeURIComponent(this.job)}` : ''}`;
    const res = await fetch(url, { headers: apiHeaders({ Accept: 'text/event-stream' }), credentials: 'same-origin', cache: 'no-store', signal: ctrl.signal });
    if (res.status === 401) return location.reload();
    if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
    const parser = new EventParser((event, data) => {
      if (event === 'hello') {
        // (re)connected: what happened meanwhile is lost, so the views reload on this event
        this.backoff = 1000;
        this.status('live', true);
      }
      try {
        this.emit(event, JSON.parse(data));
      } catch {
        // one bad event must not end the stream
      }
    });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      parser.push(value);
    }
  }
}
