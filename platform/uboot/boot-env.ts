// The bootloader environment as the platform sees it: read all variables, write several in one go.
// Implementations: FileBootEnv (native TS on the image) and FwToolsBootEnv (the real fw_printenv/fw_setenv).

/**
 * A U-Boot environment. Values are text (UTF-8); U-Boot treats an empty value as "unset", so both `null` and
 * `""` delete a variable on write.
 */
export interface BootEnv {
  /**
   * All variables. Throws BootEnvError('bad-crc') when no valid copy exists (U-Boot would boot with its built-in
   * defaults), BootEnvError('io') when the storage cannot be read.
   */
  read(): Promise<Record<string, string>>;
  /**
   * Sets (string) or deletes (null or "") several variables in ONE environment write: the bootloader sees all
   * of them or none (with a redundant environment even across a power cut; with a single copy a cut during
   * the write leaves a bad CRC, which U-Boot answers with its defaults). Durable (fsync) when it resolves.
   * Throws BootEnvError('invalid') for a bad name/value, 'full' when the environment has no room,
   * 'bad-crc' when the stored environment is unreadable (it is never overwritten blindly), 'io' otherwise.
   */
  write(vars: Record<string, string | null>): Promise<void>;
}

export type BootEnvErrorReason = 'bad-crc' | 'invalid' | 'full' | 'io';

export class BootEnvError extends Error {
  constructor(
    readonly reason: BootEnvErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BootEnvError';
  }
}

/** Variable names U-Boot and libubootenv accept (the env stores anything; fw_setenv scripts need this much). */
export function checkVarName(name: string): void {
  if (name === '' || /[=\s\0]/.test(name)) throw new BootEnvError('invalid', `"${name}" is not a valid U-Boot variable name (no '=', whitespace or NUL, not empty)`);
}
