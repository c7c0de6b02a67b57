// "Did you mean …?" for both command lines (fota and fota-agent): the known name closest to a typo. Pure.

/** Levenshtein distance, capped work: names are short. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
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
