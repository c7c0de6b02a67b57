// The Node.js each program needs (package.json "fota.node", protocol/node-version.ts), checked at its start with
// a sentence, not a stack trace. Runs in both legs: on Node 20 both programs start; on Debian's Node 18
// (npm run test:node18) fota-agent starts and fota refuses, naming the Node it needs.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { nodeTooOld, olderThan } from '../../protocol/node-version.js';
import { requireBuild, ROOT } from '../helpers/sim-device.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string }; fota: { node: { agent: string; hub: string } } };

async function run(bin: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(ROOT, 'bin', bin), ...args]);
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('Node.js versions', () => {
  it('compares versions as numbers, and says what is needed', () => {
    expect(olderThan('18.17.1', '18.18')).toBe(true);
    expect(olderThan('18.18.0', '18.18')).toBe(false);
    expect(olderThan('v18.20.4', '20')).toBe(true);
    expect(olderThan('20.0.0', '20')).toBe(false);
    expect(olderThan('22.1.0', '20')).toBe(false);
    expect(olderThan('9.11.2', '18.18')).toBe(true);
    expect(nodeTooOld('fota-agent', '18.18', '18.12.1', 'the device agent')).toBe(
      'fota-agent needs Node.js 18.18 or newer (the device agent); this is Node.js 18.12.1. Install a newer Node.js (docs/installation.md)',
    );
    expect(nodeTooOld('fota-agent', '18.18', '18.19.0', 'x')).toBeUndefined();
  });

  it('one place: package.json "fota.node", and npm\'s engines field is the agent\'s minimum', () => {
    expect(pkg.engines.node).toBe(`>=${pkg.fota.node.agent}`);
    expect(olderThan(pkg.fota.node.agent, pkg.fota.node.hub)).toBe(true);
  });

  it(`this Node (${process.versions.node}): fota-agent starts; fota starts on ${pkg.fota.node.hub} or newer and otherwise says what it needs`, async () => {
    requireBuild();
    const agent = await run('fota-agent.js', ['--version']);
    expect(agent).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    const cli = await run('fota.js', ['--version']);
    if (olderThan(process.versions.node, pkg.fota.node.hub)) {
      expect(cli.code).toBe(1);
      expect(cli.stderr).toBe(
        `fota needs Node.js ${pkg.fota.node.hub} or newer (the hub needs aedes and better-sqlite3; the device agent alone, fota-agent, runs on Node.js 18.18); this is Node.js ${process.versions.node}. Install a newer Node.js (docs/installation.md)\n`,
      );
    } else expect(cli).toMatchObject({ code: 0, stdout: '0.1.0\n' });
  });
});
