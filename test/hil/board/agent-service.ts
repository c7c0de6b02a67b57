// What the HIL suites read from a board running fota's unit, over its ssh(): the slot the kernel booted, systemd's
// restart count of the agent, and the watchdog scenario both boards run (the virtual one and a real one).
import { expect } from 'vitest';
import { waitFor } from '../../helpers/sim-device.js';

/** a board the suites reach over SSH (QemuBoard, SshBoard) */
export interface ShellBoard {
  ssh(cmd: string): Promise<string>;
}

/** the slot the running kernel was booted from (fota.slot= on its command line), '?' when absent */
export async function bootedSlot(board: ShellBoard): Promise<string> {
  return /fota\.slot=([AB])/.exec(await board.ssh('cat /proc/cmdline'))?.[1] ?? '?';
}

/** how many times systemd restarted fota-agent since boot */
export async function agentRestarts(board: ShellBoard): Promise<number> {
  return Number((await board.ssh('systemctl show -p NRestarts --value fota-agent')).trim());
}

/** Scenario 6: the agent hangs (SIGSTOP); systemd's watchdog kills and restarts it, and it is active again. */
export async function hangAndExpectWatchdogRestart(board: ShellBoard): Promise<void> {
  const before = await agentRestarts(board);
  await board.ssh('systemctl kill --signal=SIGSTOP fota-agent');
  await waitFor('systemd to restart the hung agent', 300_000, async () => ((await agentRestarts(board)) > before ? true : undefined));
  expect(await board.ssh('journalctl -u fota-agent --no-pager -o cat')).toMatch(/Watchdog timeout/);
  await waitFor('the agent to be active again', 120_000, async () => ((await board.ssh('systemctl is-active fota-agent').catch(() => '')).trim() === 'active' ? true : undefined));
}
