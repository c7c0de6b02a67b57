// The table of `fota` subcommands. Each command lives in its own file under commands/.

import type { Command } from '../command.js';
import { completionCommand } from './completion.js';
import { demoCommand } from './demo.js';
import { DEVICE_COMMANDS } from './device.js';
import { hubCommand } from './hub.js';
import { JOB_COMMANDS } from './job.js';
import { PACKAGE_COMMANDS } from './package.js';
import { serveCommand } from './serve.js';
import { SIM_COMMANDS } from './sim.js';

export const COMMANDS: Command[] = [demoCommand, ...PACKAGE_COMMANDS, serveCommand, ...SIM_COMMANDS, ...DEVICE_COMMANDS, hubCommand, ...JOB_COMMANDS];
COMMANDS.push(completionCommand(() => COMMANDS));
