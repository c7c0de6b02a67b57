// `fota completion bash|zsh`: a shell completion script generated from the command table, so it never lists a
// command or option that does not exist. The logic is one POSIX-shell function both shells run
// (_fota_candidates CUR WORDS…: prints the candidate words); each shell only wraps it in its completion API.

import { usageError, EXIT, type Command } from '../command.js';

/** The words a command is reached by: "sim image" → ["sim", "image"]; `device ID read` is matched by its verb. */
function tables(commands: Command[]): { top: string[]; groups: Map<string, string[]>; options: Map<string, string[]> } {
  const top = [...new Set(commands.map((c) => c.name.split(' ')[0]!))];
  const groups = new Map<string, string[]>();
  const options = new Map<string, string[]>();
  for (const c of commands) {
    const [group, verb] = c.name.split(' ');
    if (verb !== undefined) groups.set(group!, [...(groups.get(group!) ?? []), verb]);
    const flags = Object.entries(c.options ?? {}).map(([name, o]) => [`--${name}`, ...('short' in o && o.short ? [`-${o.short}`] : [])]).flat();
    options.set(c.name, [...flags, '--help']);
  }
  return { top, groups, options };
}

/** The shared candidate function (POSIX sh: runs in bash and zsh alike). */
function candidatesFunction(commands: Command[]): string {
  const { top, groups, options } = tables(commands);
  // commands whose verb follows an argument (`fota device ID read`) carry a custom matcher
  const afterId = new Set(commands.filter((c) => c.match).map((c) => c.name.split(' ')[0]!));
  const groupCases = [...groups]
    .map(([g, verbs]) => {
      if (!afterId.has(g)) return `    ${g}) if [ $# -eq 1 ]; then echo "${verbs.join(' ')}"; return; fi; cmd="$1 $2" ;;`;
      const plain = verbs.filter((v) => !commands.find((c) => c.name === `${g} ${v}`)?.match);
      const withId = verbs.filter((v) => commands.find((c) => c.name === `${g} ${v}`)?.match);
      return [
        `    ${g})`,
        `      if [ $# -eq 1 ]; then echo "${plain.join(' ')}"; return; fi`,
        `      case "$2" in ${plain.join('|')}) cmd="$1 $2" ;; *) if [ $# -eq 2 ]; then echo "${withId.join(' ')}"; return; fi; cmd="$1 $3" ;; esac ;;`,
      ].join('\n');
    })
    .join('\n');
  const optionCases = [...options].map(([name, opts]) => `    "${name}") echo "${opts.join(' ')}" ;;`).join('\n');
  return `_fota_candidates() {
  # $1: the word being completed; then the words before it, starting with "fota"
  local cur cmd
  cur="$1"; shift; shift
  if [ $# -eq 0 ]; then echo "${top.join(' ')} --help --version"; return; fi
  case "$1" in
    completion) [ $# -eq 1 ] && echo "bash zsh"; return ;;
${groupCases}
    *) cmd="$1" ;;
  esac
  case "$cur" in -*) ;; *) return ;; esac
  case "$cmd" in
${optionCases}
  esac
}`;
}

export function completionScript(shell: 'bash' | 'zsh', commands: Command[]): string {
  const shared = candidatesFunction(commands);
  if (shell === 'bash')
    return `# fota completion for bash: source <(fota completion bash), or save it as /etc/bash_completion.d/fota
${shared}
_fota() {
  local cur words
  cur="\${COMP_WORDS[COMP_CWORD]}"
  words="$(_fota_candidates "$cur" "\${COMP_WORDS[@]:0:COMP_CWORD}")"
  if [ -n "$words" ]; then COMPREPLY=( $(compgen -W "$words" -- "$cur") ); else COMPREPLY=( $(compgen -f -- "$cur") ); fi
}
complete -o filenames -F _fota fota
`;
  return `#compdef fota
# fota completion for zsh: fota completion zsh > "\${fpath[1]}/_fota" (then start a new shell), or, after
# compinit in ~/.zshrc: source <(fota completion zsh)
${shared}
_fota() {
  local -a cands
  cands=( $(_fota_candidates "\${words[CURRENT]}" "\${(@)words[1,CURRENT-1]}") )
  if (( \${#cands} )); then compadd -a cands; else _files; fi
}
if (( \${+functions[compdef]} )); then compdef _fota fota; fi
`;
}

export function completionCommand(all: () => Command[]): Command {
  return {
    name: 'completion',
    summary: 'print a shell completion script (bash or zsh)',
    usage: `Usage: fota completion bash|zsh

Prints a completion script for commands, subcommands and options, made from this fota's own command table.
  bash:  source <(fota completion bash)           (in ~/.bashrc; or save it as /etc/bash_completion.d/fota)
  zsh:   fota completion zsh > "\${fpath[1]}/_fota"  (then a new shell; or source <(fota completion zsh) after compinit)`,
    positionals: { min: 1, max: 1 },
    run: async (args) => {
      const shell = args.positionals[0];
      if (shell !== 'bash' && shell !== 'zsh') throw usageError(`fota completion knows bash and zsh (got "${shell}")`);
      process.stdout.write(completionScript(shell, all()));
      return EXIT.ok;
    },
  };
}
