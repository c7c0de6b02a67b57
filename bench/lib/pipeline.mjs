// The machine's reference: `curl -s URL | tee >(openssl dgst -sha256) | dd of=SLOT bs=1M conv=fsync`, written with
// a FIFO instead of >(...) so bash waits for the hasher and its CPU is counted (as /work/shared/peers/lib/pipeline.sh).
// The script text is fixed; URL, slot and temp folder are passed as positional arguments, never spliced into it.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { trackChild } from './children.mjs';

// `times` prints the shell's own and its reaped children's user/sys times: curl, tee, dd and the hasher.
// notrunc: the slot is the simulated device's slot file, which must keep its size (its capacity).
const SCRIPT = String.raw`set -uo pipefail
url="$1" slot="$2" t="$3" ca="${'$'}{4:-}"
mkfifo "$t/fifo"
openssl dgst -sha256 -r < "$t/fifo" > "$t/sum" &
h=$!
curl -sS --fail ${'$'}{ca:+--cacert "$ca"} "$url" | tee "$t/fifo" | dd of="$slot" bs=1M iflag=fullblock conv=fsync,notrunc status=none
rc=$?
wait "$h" || rc=1
times > "$t/times"
exit "$rc"`;

/** "0m1.234s" → 1.234 */
function seconds(text) {
  const m = /^(\d+)m([\d.]+)s$/.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
}

/**
 * Runs the pipeline once (`onSpawn(child)` sees the bash process, e.g. to sample its tree; `caFile`: a CA for https). Resolves { wallS, userS, sysS, sha256 } (CPU of bash and all its children); rejects when
 * it exits non-zero. wallS runs from spawn to exit, bash start-up (a few ms) included.
 */
export function runPipeline({ url, slot, workDir, onSpawn, caFile = '' }) {
  const t = mkdtempSync(path.join(workDir, 'pipe-'));
  return new Promise((resolve, reject) => {
    let stderr = '';
    const t0 = performance.now();
    // its own process group, so that an interrupted benchmark can end curl, tee, dd and openssl together
    const child = spawn('bash', ['-c', SCRIPT, 'pipeline', url, slot, t, caFile], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    trackChild('pipeline', child, { group: true });
    onSpawn?.(child);
    child.stderr.on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      const wallS = (performance.now() - t0) / 1000;
      try {
        if (code !== 0) throw new Error(`pipeline exited ${code}: ${stderr.trim()}`);
        // two lines: the shell's "user sys", then its children's "user sys"
        const times = readFileSync(path.join(t, 'times'), 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).map(seconds));
        const userS = times.reduce((s, [u]) => s + u, 0);
        const sysS = times.reduce((s, [, y]) => s + y, 0);
        const sha256 = readFileSync(path.join(t, 'sum'), 'utf8').split(' ')[0];
        resolve({ wallS, userS, sysS, sha256 });
      } catch (e) {
        reject(e);
      } finally {
        rmSync(t, { recursive: true, force: true });
      }
    });
  });
}
