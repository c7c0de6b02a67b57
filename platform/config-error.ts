// The one error a backend raises for a configuration that cannot work on this board: it names the key, and the agent
// exits 78 (EX_CONFIG, systemd RestartPreventExitStatus) instead of retrying forever.

export class PlatformConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
    this.name = 'PlatformConfigError';
  }
}

/**
 * A backend that can check, at start, that it fits the board (slots resolve, the bootloader's files exist, the
 * environment is where the configuration says). Throws PlatformConfigError; returns notes worth logging once.
 * With `settle`, it also does the bootloader's start-of-boot bookkeeping (RAUC: mark the booted slot good); without
 * it (fota-agent --check) it writes nothing.
 */
export interface BoardCheck {
  checkBoard(opts: { settle: boolean }): Promise<string[]>;
}

export function hasBoardCheck(p: object): p is BoardCheck {
  return typeof (p as Partial<BoardCheck>).checkBoard === 'function';
}
