// Anti-rollback: which firmware versions this device may install (docs/package-format.md "Versions and
// anti-rollback"). Two bounds: the installed version, which only a job that allows a downgrade may go below, and the
// security floor, which nothing goes below — not a job, not a factory reset. Pure.

import { compareVersions, isComparableVersion } from '../../protocol/versions.js';
import { FotaError } from './errors.js';

export interface VersionPolicy {
  /** version of the booted slot ("" when the platform cannot tell: then only the floor applies) */
  installed: string;
  /** the security floor ("" = none) */
  floor: string;
  /** the job allows installing a lower version than the installed one (never one below the floor) */
  allowDowngrade: boolean;
}

/** Why `version` is below the floor, or undefined. A version that cannot be ordered is below any floor. */
export function belowFloor(version: string, floor: string): string | undefined {
  if (floor === '') return undefined;
  const c = compareVersions(version, floor);
  if (c === undefined) return `"${version}" is not a version the agent can order (docs/package-format.md), so it cannot be shown to be at or above the security floor ${floor}`;
  return c < 0 ? `${version} is below the security floor ${floor}` : undefined;
}

/**
 * Throws FotaError('downgrade-refused') when `pkg` (name and version from the signed manifest) may not be installed
 * under `policy`; the message says what would allow it. The floor first: no job can allow going below it.
 */
export function checkVersionPolicy(pkg: { name: string; version: string }, policy: VersionPolicy): void {
  const what = `package ${pkg.name} ${pkg.version}`;
  const floor = belowFloor(pkg.version, policy.floor);
  if (floor !== undefined) {
    throw new FotaError('downgrade-refused', `${what} refused: ${floor}; the floor only rises (a package declaring securityFloor, or the securityFloor setting), and no job can go below it`);
  }
  if (policy.allowDowngrade || policy.installed === '') return;
  const c = compareVersions(pkg.version, policy.installed);
  if (c === undefined) {
    const odd = isComparableVersion(pkg.version) ? `the installed version "${policy.installed}"` : `"${pkg.version}"`;
    throw new FotaError('downgrade-refused', `${what} refused: ${odd} cannot be ordered, so it may be a downgrade from ${policy.installed}; a job that allows a downgrade can install it`);
  }
  if (c < 0) throw new FotaError('downgrade-refused', `${what} refused: it is a downgrade from the installed ${policy.installed}; a job that allows a downgrade can install it`);
}
