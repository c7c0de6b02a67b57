// Anti-rollback in pure logic: how versions are ordered (protocol/versions.ts) and which ones a device refuses
// (agent/core/version-policy.ts). The package reader and whole devices are covered in integration/system tests.
import { describe, expect, it } from 'vitest';
import { belowFloor, checkVersionPolicy } from '../../agent/core/version-policy.js';
import { compareVersions, higherFloor, isComparableVersion } from '../../protocol/versions.js';

describe('compareVersions', () => {
  // SemVer 2.0.0 §11 example, in increasing order
  const SEMVER = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.1.0', '2.0.0'];
  it('orders the SemVer 2.0.0 precedence example', () => {
    for (let i = 1; i < SEMVER.length; i++) {
      expect(compareVersions(SEMVER[i - 1]!, SEMVER[i]!), `${SEMVER[i - 1]} < ${SEMVER[i]}`).toBe(-1);
      expect(compareVersions(SEMVER[i]!, SEMVER[i - 1]!)).toBe(1);
    }
  });

  it.each([
    ['0.9.0', '2.0.0', -1],
    ['2.0', '2.0.0', 0],
    ['2', '1.99.99', 1],
    ['2024.01.15', '2024.2.1', -1],
    ['1.2.3.4', '1.2.3', 1],
    ['v3.1.0', '3.1.0', 0],
    ['1.0.0+build.7', '1.0.0+build.9', 0],
    ['10.0.0', '9.0.0', 1],
  ] as const)('%s vs %s → %s', (a, b, want) => {
    expect(compareVersions(a, b)).toBe(want);
  });

  it('cannot order what is not a version', () => {
    for (const v of ['', 'latest', '1.2a', '1..2', 'release-7', '2.0.0_rc1', '1.0.0-', '+build']) {
      expect(isComparableVersion(v), v).toBe(false);
      expect(compareVersions(v, '1.0.0')).toBeUndefined();
    }
  });

  it('a floor only rises; a floor that cannot be ordered never replaces one that can', () => {
    expect(higherFloor('', '2.0.0')).toBe('2.0.0');
    expect(higherFloor('2.0.0', '1.0.0')).toBe('2.0.0');
    expect(higherFloor('2.0.0', '2.1.0')).toBe('2.1.0');
    expect(higherFloor('2.0.0', 'latest')).toBe('2.0.0');
    expect(higherFloor('2.0.0', '')).toBe('2.0.0');
  });
});

describe('checkVersionPolicy', () => {
  const pkg = (version: string) => ({ name: 'acme', version });
  const refused = (version: string, policy: Parameters<typeof checkVersionPolicy>[1]) => {
    try {
      checkVersionPolicy(pkg(version), policy);
    } catch (e) {
      expect(e).toMatchObject({ name: 'FotaError', code: 'downgrade-refused' });
      return (e as Error).message;
    }
    return undefined;
  };

  it('refuses a version below the installed one unless the job allows a downgrade', () => {
    expect(refused('0.9.0', { installed: '2.0.0', floor: '', allowDowngrade: false })).toMatch(/acme 0\.9\.0 refused: it is a downgrade from the installed 2\.0\.0; a job that allows a downgrade can install it/);
    expect(refused('0.9.0', { installed: '2.0.0', floor: '', allowDowngrade: true })).toBeUndefined();
    expect(refused('2.0.0', { installed: '2.0.0', floor: '', allowDowngrade: false })).toBeUndefined(); // a reinstall
    expect(refused('2.0.1', { installed: '2.0.0', floor: '', allowDowngrade: false })).toBeUndefined();
  });

  it('refuses what cannot be ordered against the installed version unless the job allows a downgrade', () => {
    expect(refused('nightly', { installed: '2.0.0', floor: '', allowDowngrade: false })).toMatch(/"nightly" cannot be ordered/);
    expect(refused('2.1.0', { installed: 'factory-build', floor: '', allowDowngrade: false })).toMatch(/the installed version "factory-build" cannot be ordered/);
    expect(refused('nightly', { installed: '2.0.0', floor: '', allowDowngrade: true })).toBeUndefined();
    // a platform that cannot tell its version: only the floor applies
    expect(refused('0.1.0', { installed: '', floor: '', allowDowngrade: false })).toBeUndefined();
  });

  it('refuses a version below the security floor whatever the job allows, and anything that cannot be ordered once there is a floor', () => {
    expect(refused('1.9.9', { installed: '1.0.0', floor: '2.0.0', allowDowngrade: true })).toMatch(/1\.9\.9 is below the security floor 2\.0\.0; .*no job can go below it/);
    expect(refused('nightly', { installed: '', floor: '2.0.0', allowDowngrade: true })).toMatch(/cannot be shown to be at or above the security floor/);
    expect(refused('2.0.0', { installed: '3.0.0', floor: '2.0.0', allowDowngrade: true })).toBeUndefined();
    expect(belowFloor('1.0.0', '')).toBeUndefined();
  });
});
