// Server-sent events (text/event-stream, WHATWG HTML §9.2) to the dashboards: a bounded set of open streams, each
// with a bounded amount of unsent output.
//
// INVARIANTS
// - At most `maxClients` streams are open; one more is answered 503 before any event is written.
// - A client whose socket holds more than `maxBufferBytes` unsent bytes is dropped (socket destroyed) when the next
//   event is written: a slow browser costs the hub at most that much memory, never an unbounded queue.
// - A closed stream leaves the set at once (its 'close' event); close() ends every stream and refuses new ones.
// - Each event is one `event:` line and one `data:` line of JSON (JSON.stringify never writes a raw newline).

import type { IncomingMessage, ServerResponse } from 'node:http';

export const DEFAULT_MAX_CLIENTS = 32;
export const DEFAULT_MAX_BUFFER_BYTES = 512 * 1024;
const HEARTBEAT_MS = 15_000;

export interface StreamClient<F> {
  /** what the client asked to follow (e.g. the job whose children it shows) */
  readonly filter: F;
  readonly opened: number;
}

interface Open<F> extends StreamClient<F> {
  res: ServerResponse;
}

export interface EventStreamOptions {
  maxClients?: number;
  maxBufferBytes?: number;
  heartbeatMs?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/** One SSE frame. */
export function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class EventStreams<F> {
  private readonly clients = new Set<Open<F>>();
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;
  /** how many clients were dropped for not keeping up (for the log and tests) */
  dropped = 0;

  constructor(private readonly opts: EventStreamOptions = {}) {
    // a comment line keeps proxies from timing the stream out and finds dead peers
    this.heartbeat = setInterval(() => this.send(() => ': keep-alive\n\n'), opts.heartbeatMs ?? HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /**
   * Answers `req` with an event stream and what `first` makes (frames) at once. False (and a 503 written) when the hub has
   * as many streams as it serves.
   */
  open(req: IncomingMessage, res: ServerResponse, filter: F, first: () => string): boolean {
    if (this.closed || this.clients.size >= (this.opts.maxClients ?? DEFAULT_MAX_CLIENTS)) {
      const body = `${JSON.stringify({ error: { code: 'busy', message: 'the hub serves as many live dashboards as it can; try again later' } })}\n`;
      res.writeHead(503, { 'Content-Type': 'application/json; charset=utf-8', 'Retry-After': '10', 'Cache-Control': 'no-store' });
      res.end(body);
      return false;
    }
    const client: Open<F> = { filter, opened: Date.now(), res };
    this.clients.add(client);
    req.socket.setNoDelay(true);
    res.on('close', () => this.clients.delete(client));
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      // a reverse proxy (nginx) must pass events on as they come, not buffer them
      'X-Accel-Buffering': 'no',
    });
    res.write(first());
    return true;
  }

  /** Writes what `build` makes for each client (nothing when it returns undefined or ''). */
  send(build: (c: StreamClient<F>) => string | undefined): void {
    const max = this.opts.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    for (const c of this.clients) {
      if (c.res.writableLength > max) {
        this.drop(c, max);
        continue;
      }
      const text = build(c);
      if (text) c.res.write(text);
    }
  }

  private drop(c: Open<F>, max: number): void {
    this.clients.delete(c);
    this.dropped++;
    this.opts.log?.('dashboard event stream dropped: the client does not keep up', { unsentBytes: c.res.writableLength, maxBufferBytes: max });
    c.res.destroy();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }
}
