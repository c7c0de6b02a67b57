// "Did you mean …?" for both command lines (fota and fota-agent): the known name closest to a typo. Pure.

/** Edit distance counting a swap of two neighbours as one edit (optimal string alignment): typos are often swaps. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest of `known` to `typed` when it is close enough to be a typo (a third of its length), else undefined. */
export function closest(typed: string, known: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of known) {
    const d = name.startsWith(typed) && typed.length >= 3 ? 0.5 : distance(typed, name);
    if (!best || d < best.d) best = { name, d };
  }
  return best && best.d <= Math.max(1, Math.floor(typed.length / 3)) ? best.name : undefined;
}

/**
 * node:util parseArgs's errors in a person's words: "unknown option --imgae; did you mean --image?",
 * "--image needs a value", "--json takes no value". Other messages pass through.
 */
export function explainArgError(e: unknown, options: readonly string[]): string {
  const err = e as { code?: string; message?: string };
  const message = String(err?.message ?? e);
  const opt = /'(-{1,2}[^' ]+)/.exec(message)?.[1];
  if (err?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && opt) {
    const guess = closest(opt.replace(/^-+/, ''), options);
    return `unknown option ${opt}${guess ? `; did you mean --${guess}?` : ''}`;
  }
  if (err?.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && opt && /argument missing/.test(message)) return `${opt} needs a value`;
  if (err?.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && opt && /does not take an argument/.test(message)) return `${opt} takes no value`;
  return message.replace(/^TypeError \[[A-Z_]+\]: /, '');
}
