// The hub's live events as the browser reads them: a text/event-stream split into events (WHATWG HTML §9.2.6, the
// parts the hub uses: event, data, comments). Pure: no DOM, so it is tested in Node.

/** Splits a text/event-stream into events (WHATWG HTML §9.2.6, the parts the hub uses: event, data, comments). */
export class EventParser {
  private buffer = '';

  constructor(private readonly emit: (event: string, data: string) => void) {}

  push(chunk: string): void {
    this.buffer += chunk.replace(/\r\n?/g, '\n');
    for (let end = this.buffer.indexOf('\n\n'); end >= 0; end = this.buffer.indexOf('\n\n')) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (name === 'event') event = value;
        else if (name === 'data') data.push(value);
      }
      if (data.length > 0) this.emit(event, data.join('\n'));
    }
  }
}
