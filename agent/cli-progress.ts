// How `fota-agent install|update|cancel|mark-*` shows the agent's answer: a progress bar on a terminal (stderr,
// rewritten in place), one line per state change otherwise (logs, scripts), then the outcome and the next step.

const STATE_TEXT: Record<string, string> = {
  idle: 'Idle',
  downloading: 'Downloading',
  downloaded: 'Downloaded and verified',
  'updating:activating': 'Arming the new slot',
  'updating:rebooting': 'Rebooting',
  'updating:verifying': 'Checking health',
  'updating:committing': 'Committing',
  'updating:reverting': 'Reverting',
  'updating:flashing': 'Writing the factory image',
};

export interface ProgressRenderer {
  /** one message of the agent's answer (see agent/local-control.ts LocalMessage) */
  message(m: Record<string, unknown>): void;
  /** 0 when the agent said done and ok, else 1 */
  exitCode(): number;
}

export function progressRenderer(command: string, tty = process.stderr.isTTY === true): ProgressRenderer {
  let outcome: boolean | undefined;
  let barShown = false;
  let lastState = '';
  const clearBar = () => {
    if (barShown) process.stderr.write('\r\x1b[K');
    barShown = false;
  };
  return {
    message(m) {
      if (m.type === 'state') {
        const state = String(m.state);
        const percent = Number(m.percent) || 0;
        const text = STATE_TEXT[state] ?? state;
        if (tty && state === 'downloading') {
          const width = 30;
          const full = Math.round((percent / 100) * width);
          process.stderr.write(`\r${text} [${'#'.repeat(full)}${'-'.repeat(width - full)}] ${String(percent).padStart(3)}%`);
          barShown = true;
        } else if (state !== lastState) {
          clearBar();
          process.stderr.write(`${text}…\n`);
        }
        lastState = state;
      } else if (m.type === 'done') {
        clearBar();
        outcome = m.ok === true;
        if (outcome) console.log(String(m.message));
        else console.error(`fota-agent ${command}: ${String(m.message)}`);
        if (typeof m.next === 'string') (outcome ? console.log : console.error)(`next: ${m.next}`);
      }
    },
    exitCode() {
      clearBar();
      if (outcome === undefined) console.error(`fota-agent ${command}: the agent ended without an answer (did it restart? see: fota-agent status)`);
      return outcome === true ? 0 : 1;
    },
  };
}
