// The table of `fota` subcommands. Each command lives in its own file under commands/.

import type { Command } from '../command.js';

export const COMMANDS: Command[] = [];
