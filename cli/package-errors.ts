// Turns the package tools' operator-facing errors into one-line CLI failures (keygen, pack, inspect).

import { CliError, EXIT } from './command.js';
import { PackageToolError } from './package/package-tools.js';

/** Turns the tools' operator-facing errors into one-line CLI failures; anything else stays a bug with a stack. */
export async function tool<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof PackageToolError) throw new CliError(e.message, EXIT.failure);
    throw e;
  }
}

