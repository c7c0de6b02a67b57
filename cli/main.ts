// `fota`: the operator CLI. Finds the subcommand, parses its options, prints errors as one line with a hint.
// Exit codes: 0 ok, 1 failure, 2 usage, 3 timeout, 78 bad configuration.

import { CliError, EXIT, parseFor, systemError } from './command.js';
import { COMMANDS, findCommand as find } from './commands/index.js';
import { nodeTooOld } from '../protocol/node-version.js';
import { closest } from '../protocol/suggest.js';

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

/** No command matched: help for a group or one of its commands, what is missing, or the closest command name. */
function notFound(argv: string[]): number {
  const group = COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `));
  const wantsHelp = argv.includes('--help') || argv.includes('-h');
  if (group.length === 0) {
    const guess = closest(argv[0] ?? '', [...new Set(COMMANDS.map((c) => c.name.split(' ')[0]!))]);
    console.error(`fota: unknown command "${argv[0]}"${guess ? `; did you mean fota ${guess}?` : ''}\n\n${overview()}`);
    return EXIT.usage;
  }
  const verbs = group.map((c) => c.name.split(' ')[1]!);
  // `fota device read --help` and `fota device dev1 read --help` both mean the help of `device read`
  const named = group.find((c) => argv.slice(1, 3).includes(c.name.split(' ')[1]!));
  if (named && wantsHelp) return (console.log(named.usage), EXIT.ok);
  const width = Math.max(...group.map((c) => c.name.length));
  const list = [`fota ${argv[0]} commands (fota <command> --help for details):`, ...group.map((c) => `  fota ${c.name.padEnd(width)}  ${c.summary}`)].join('\n');
  if (argv[1] === undefined || argv[1] === '--help' || argv[1] === '-h') {
    (wantsHelp ? console.log : console.error)(list);
    return wantsHelp ? EXIT.ok : EXIT.usage;
  }
  let problem: string;
  if (named) problem = `"${named.name.split(' ')[1]}" comes after the device id: ${named.usage.split('\n')[0]!.replace(/^Usage: /, '')}`;
  else if (argv[0] === 'device' && (argv.length === 2 || wantsHelp)) problem = `what should "fota device ${argv[1]}" do? give an operation: ${verbs.filter((v) => v !== 'list').join(', ')} (e.g. fota device ${argv[1]} read /3/0/3)`;
  else {
    const word = argv[0] === 'device' && argv[2] !== undefined ? argv[2] : argv[1]!;
    const guess = closest(word, verbs);
    problem = `unknown ${argv[0]} command "${word}"${guess ? `; did you mean ${guess}?` : ''}`;
  }
  console.error(`fota: ${problem}\n\n${list}`);
  return EXIT.usage;
}

export async function main(argv: string[]): Promise<number> {
  const old = nodeTooOld('fota', typeof __FOTA_NODE_HUB__ === 'string' ? __FOTA_NODE_HUB__ : undefined, process.versions.node, 'the hub needs aedes and better-sqlite3; the device agent alone, fota-agent, runs on Node.js 18.18');
  if (old) return (console.error(old), EXIT.failure);
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    console.log(overview());
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  if (argv[0] === '--version') {
    console.log(__FOTA_VERSION__);
    return EXIT.ok;
  }
  const found = find(argv);
  if (!found) return notFound(argv);
  try {
    const args = parseFor(found.cmd, found.rest);
    if (args.values.help) {
      console.log(found.cmd.usage);
      return EXIT.ok;
    }
    return await found.cmd.run(args);
  } catch (thrown) {
    const e = thrown instanceof CliError ? thrown : systemError(thrown);
    if (e) {
      console.error(`fota ${found.cmd.name}: ${e.message}`);
      if (e.hint) console.error(e.hint);
      return e.exitCode;
    }
    console.error(`fota ${found.cmd.name}: ${(thrown as Error).stack ?? String(thrown)}`);
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
