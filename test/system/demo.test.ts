// The README's main job: `fota demo` runs a fleet update end to end with nothing set up, and leaves nothing behind.
// The demo runs with TMPDIR set to a folder of this test's own, so another demo running on the machine at the same
// time neither disturbs the check nor is disturbed by it.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FOTA, requireBuild } from '../helpers/sim-device.js';

const run = promisify(execFile);

let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'fota-demo-test-'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('fota demo', () => {
  it('updates every device, rolls back the broken ones, lists all jobs with the parent last, and cleans up', async () => {
    requireBuild();
    const { stdout } = await run(process.execPath, [FOTA, 'demo', '--devices', '4', '--broken', '1', '--size', '2M'], { timeout: 150_000, env: { ...process.env, TMPDIR: tmp } }).catch((e: { stdout: string; stderr: string; code: number }) => {
      throw new Error(`demo exited ${e.code}\n${e.stdout}\n${e.stderr}`);
    });
    expect(stdout).toMatch(/scheduled firmware-update job (demo-\S+): 1 parent \+ 4 children \(5 jobs\)/);
    expect(stdout).toMatch(/running jobs: \d of 4/);
    const table = stdout.slice(stdout.indexOf('All 5 jobs'));
    const rows = table.split('\n').filter((l) => /^\s+demo-/.test(l));
    expect(rows).toHaveLength(5);
    expect(rows.at(-1)).toMatch(/\(all\)\s+Failed .*4 devices: 3 succeeded, 1 failed \(failed: sim-\d\)/);
    expect(rows.filter((r) => /Completed .*updated [12]\.0\.0 → 3\.0\.0/.test(r))).toHaveLength(3);
    expect(rows.filter((r) => /Failed .*boot counter exhausted/.test(r))).toHaveLength(1);
    // everything the demo and its devices made lived under TMPDIR, and is gone
    expect(await readdir(tmp)).toEqual([]);
  }, 180_000);
});
