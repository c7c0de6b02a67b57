// The table of `fota` subcommands. Each command lives in its own file under commands/.

import type { Command } from '../command.js';
import { DEVICE_COMMANDS } from './device.js';
import { PACKAGE_COMMANDS } from './package.js';
import { SIM_COMMANDS } from './sim.js';

export const COMMANDS: Command[] = [...PACKAGE_COMMANDS, ...SIM_COMMANDS, ...DEVICE_COMMANDS];
