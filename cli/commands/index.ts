// The table of `fota` subcommands (each lives in its own file under commands/) and how argv finds one.

import type { Command } from '../command.js';
import { BROKER_COMMANDS } from './broker.js';
import { completionCommand } from './completion.js';
import { demoCommand } from './demo.js';
import { DEVICE_COMMANDS } from './device.js';
import { hubCommand } from './hub.js';
import { JOB_COMMANDS } from './job.js';
import { inspectCommand } from './inspect.js';
import { keygenCommand } from './keygen.js';
import { packCommand } from './pack.js';
import { serveCommand } from './serve.js';
import { SIM_COMMANDS } from './sim.js';

export const COMMANDS: Command[] = [demoCommand, keygenCommand, packCommand, inspectCommand, serveCommand, ...SIM_COMMANDS, ...DEVICE_COMMANDS, hubCommand, ...BROKER_COMMANDS, ...JOB_COMMANDS];
COMMANDS.push(completionCommand(() => COMMANDS));

/** Finds the command whose name matches the most leading words. `fota device ID read` matches "device read". */
export function findCommand(argv: string[]): { cmd: Command; rest: string[] } | undefined {
  let best: { cmd: Command; rest: string[]; words: number } | undefined;
  for (const cmd of COMMANDS) {
    const words = cmd.name.split(' ');
    const rest = cmd.match ? cmd.match(argv) : argv.slice(0, words.length).join(' ') === cmd.name ? argv.slice(words.length) : undefined;
    if (rest && (!best || words.length > best.words)) best = { cmd, rest, words: words.length };
  }
  return best;
}
