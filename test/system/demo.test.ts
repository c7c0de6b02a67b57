// The README's main job: `fota demo` runs a fleet update end to end with nothing set up, and leaves nothing behind.
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FOTA, requireBuild } from '../helpers/sim-device.js';

const run = promisify(execFile);

async function demoDirs(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((f) => f.startsWith('fota-demo-'));
}

describe('fota demo', () => {
  it('updates every device, rolls back the broken ones, lists all jobs with the parent last, and cleans up', async () => {
    requireBuild();
    const before = await demoDirs();
    const { stdout } = await run(process.execPath, [FOTA, 'demo', '--devices', '4', '--broken', '1', '--size', '2M'], { timeout: 150_000 }).catch((e: { stdout: string; stderr: string; code: number }) => {
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
    expect(await demoDirs()).toEqual(before);
  }, 180_000);
});
