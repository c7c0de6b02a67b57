// Reads docs/reliability.md's table (hostile-input class | cases the tests run | outcome) so that a corpus test can
// check the number the document states is the number it runs.

import { readFileSync } from 'node:fs';

/** The "cases" cell of the row whose first cell starts with `className`, as a number (thousands separators allowed). */
export function documentedCount(className: string): number {
  const doc = readFileSync(new URL('../../docs/reliability.md', import.meta.url), 'utf8');
  const row = doc.split('\n').find((l) => l.startsWith(`| ${className}`));
  if (!row) throw new Error(`docs/reliability.md has no row for "${className}"`);
  const cell = row.split('|')[2]?.trim() ?? '';
  const n = Number(cell.replace(/[,\s]/g, ''));
  if (!Number.isInteger(n)) throw new Error(`docs/reliability.md: the "${className}" row says "${cell}", not a number of cases`);
  return n;
}
