// `fota`: the operator CLI. Finds the subcommand, parses its options, prints errors as one line with a hint.
// Exit codes: 0 ok, 1 failure, 2 usage, 3 timeout, 78 bad configuration.

import { CliError, EXIT, parseFor, type Command } from './command.js';
import { COMMANDS } from './commands/index.js';

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  fota ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    'fota — firmware over the air for embedded Linux A/B devices, over MQTT (LwM2M objects)',
    '',
    'Usage: fota <command> [options]      fota <command> --help',
    '',
    'Commands:',
    ...lines,
    '',
    'Environment: FOTA_BROKER (default broker URL), FOTA_HUB (hub URL), FOTA_HUB_TOKEN.',
  ].join('\n');
}

/** Finds the command whose name matches the most leading words. `fota device ID read` matches "device read". */
function find(argv: string[]): { cmd: Command; rest: string[] } | undefined {
  let best: { cmd: Command; rest: string[]; words: number } | undefined;
  for (const cmd of COMMANDS) {
    const words = cmd.name.split(' ');
    const rest = cmd.match ? cmd.match(argv) : argv.slice(0, words.length).join(' ') === cmd.name ? argv.slice(words.length) : undefined;
    if (rest && (!best || words.length > best.words)) best = { cmd, rest, words: words.length };
  }
  return best;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    console.log(overview());
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  if (argv[0] === '--version') {
    console.log(__FOTA_VERSION__);
    return EXIT.ok;
  }
  const found = find(argv);
  if (!found) {
    // a group word alone ("fota job", "fota device --help"): list the group's commands
    const group = COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `));
    const help = argv[1] === undefined || argv[1] === '--help' || argv[1] === '-h';
    if (group.length > 0) {
      const width = Math.max(...group.map((c) => c.name.length));
      (help ? console.log : console.error)(
        [`${help ? '' : `fota: unknown ${argv[0]} command "${argv[1]}"\n\n`}fota ${argv[0]} commands (fota <command> --help for details):`, ...group.map((c) => `  fota ${c.name.padEnd(width)}  ${c.summary}`)].join('\n'),
      );
      return help && argv[1] !== undefined ? EXIT.ok : EXIT.usage;
    }
    console.error(`fota: unknown command "${argv.slice(0, 2).join(' ')}"\n\n${overview()}`);
    return EXIT.usage;
  }
  try {
    const args = parseFor(found.cmd, found.rest);
    if (args.values.help) {
      console.log(found.cmd.usage);
      return EXIT.ok;
    }
    return await found.cmd.run(args);
  } catch (e) {
    if (e instanceof CliError) {
      console.error(`fota ${found.cmd.name}: ${e.message}`);
      if (e.hint) console.error(e.hint);
      return e.exitCode;
    }
    console.error(`fota ${found.cmd.name}: ${(e as Error).stack ?? String(e)}`);
    return EXIT.failure;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    console.error(e);
    process.exitCode = EXIT.failure;
  },
);
