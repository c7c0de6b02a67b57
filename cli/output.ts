// Output helpers shared by the `fota` commands: a progress line on a terminal, JSON for scripts.

const MiB = 1024 * 1024;

/** A `\r`-rewritten progress line on stderr, at most ~5 times a second; silent when stderr is not a TTY. */
export function progressLine(label: string): { update(done: number, total: number, phase?: string): void; end(): void } {
  if (!process.stderr.isTTY) return { update: () => undefined, end: () => undefined };
  let last = 0;
  let shown = false;
  return {
    update(done, total, phase) {
      const now = Date.now();
      if (now - last < 200 && done < total) return;
      last = now;
      shown = true;
      const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
      process.stderr.write(`\r${label}${phase ? ` (${phase})` : ''}: ${pct}% of ${(total / MiB).toFixed(1)} MiB   `);
    },
    end() {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}


/** One JSON document on stdout (--json): what a script reads instead of the text. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}
