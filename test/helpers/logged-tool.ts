// A system tool behind a logging wrapper: `dir/name` appends its arguments to a log, a line per run, and runs the real
// tool (found on PATH when the wrapper is made). Put `dir` first on PATH, or hand the wrapper's path to what runs it,
// to see how often, and with what, the code under test runs the tool.

import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface LoggedTool {
  /** the wrapper's path */
  path: string;
  /** the arguments of each run so far, space-joined, in order */
  runs(): Promise<string[]>;
}

export async function loggedTool(dir: string, name: string): Promise<LoggedTool> {
  const real = execFileSync('sh', ['-c', 'command -v "$1"', 'sh', name], { encoding: 'utf8' }).trim();
  const path = join(dir, name);
  const log = join(dir, `${name}.log`);
  await writeFile(path, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${real}' "$@"\n`, { mode: 0o755 });
  const runs = async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').slice(0, -1);
  return { path, runs };
}
