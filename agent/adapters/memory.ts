// Keeps the peak RSS of a long stream flat: socket read Buffers live outside the V8 heap and are freed only when
// their small JS wrappers die, which V8 notices late (~40 MiB of garbage for a 1 GiB download). A minor GC every
// few MiB frees them early. Works without `--expose-gc` on the command line; falls back to a no-op.

import v8 from 'node:v8';
import vm from 'node:vm';

type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

let cachedGc: GcFunction | null | undefined;
let forcedGcOff = false;

/**
 * Turns every forced GC of this process off (reclaimEvery, reclaimNow and the MQTT cap's become no-ops). For a process
 * that hosts many agents (the fleet benchmark's hosts: thousands in one heap of gigabytes): there each download's
 * "full GC now" would collect every agent's heap, seconds each, and stall them all (keep-alives missed in waves).
 * A device runs one agent per process, where a full GC of its ~10 MiB heap takes a few ms. Call before any agent starts.
 */
export function disableForcedGc(): void {
  forcedGcOff = true;
}

/**
 * The V8 `gc` function, or null when this runtime does not give it. `--expose-gc` set at run time only affects
 * contexts created afterwards, so a fresh vm context hands it over; the flag is switched off again right after.
 */
function gcFunction(): GcFunction | null {
  if (forcedGcOff) return null;
  if (cachedGc !== undefined) return cachedGc;
  cachedGc = null;
  try {
    const global = (globalThis as { gc?: unknown }).gc;
    if (typeof global === 'function') {
      cachedGc = global as GcFunction;
    } else {
      v8.setFlagsFromString('--expose-gc');
      try {
        const fn: unknown = vm.runInNewContext('gc');
        if (typeof fn === 'function') cachedGc = fn as GcFunction;
      } finally {
        v8.setFlagsFromString('--no-expose-gc');
      }
    }
  } catch {
    cachedGc = null;
  }
  return cachedGc;
}

/**
 * Returns a counter to call with the size of every chunk that went through: after each `bytes` bytes it runs a
 * synchronous minor (young generation) GC, which takes well under a millisecond. After each `majorEveryBytes` it looks
 * whether the memory of ArrayBuffers (Buffers) has grown by more than `majorAboveBytes` over its mark (the memory when
 * the counter was made, raised to what each full GC leaves alive), and if so runs a full GC: buffers promoted to the
 * old generation (they outlived two minor GCs while the stream waited) are freed only by a full GC, and V8 starts one
 * for external memory only after ~64 MiB of it. A full GC costs more: one every 64 MiB, always, was 0.6 CPU-s of a
 * 1 GiB update under --jitless when nothing had been promoted (docs/benchmarks.md). When the runtime does not expose
 * a GC function, or `bytes` is not a positive number, the counter does nothing. Never throws.
 */
export function reclaimEvery(bytes: number, majorEveryBytes = MAJOR_CHECK_BYTES, majorAboveBytes = MAJOR_ABOVE_BYTES): (n: number) => void {
  const gc = bytes > 0 && Number.isFinite(bytes) ? gcFunction() : null;
  if (!gc) return () => {};
  let baseline = process.memoryUsage().arrayBuffers;
  let pending = 0;
  let sinceCheck = 0;
  return (n: number) => {
    pending += n;
    if (pending < bytes) return;
    sinceCheck += pending;
    pending = 0;
    if (sinceCheck < majorEveryBytes) return collect(gc, 'minor');
    sinceCheck = 0;
    collect(gc, 'minor');
    if (process.memoryUsage().arrayBuffers - baseline <= majorAboveBytes) return;
    collect(gc, 'major');
    // what a full GC leaves is alive: only as much again in garbage calls for the next one
    baseline = Math.max(baseline, process.memoryUsage().arrayBuffers);
  };
}

/**
 * A full GC now (e.g. at the end of a download): frees what the download promoted to the old generation (chunk
 * wrappers that waited for a write, the slot writer's 640 KiB of staging buffers), whose memory lives outside V8's
 * heap, so V8's own heuristics collect it only after tens of MiB piled up: without it, each 16 MiB download left
 * ~0.7 MiB more resident (docs/reliability.md, the long run). No-op without a gc.
 */
export function reclaimNow(): void {
  const gc = gcFunction();
  if (gc) collect(gc, 'major');
}

/**
 * How often reclaimEvery looks whether buffers piled up in the old generation: 256 times per GiB, ~15 us each
 * (process.memoryUsage() under --jitless). With MAJOR_ABOVE_BYTES it bounds what can pile up to ~10 MiB (was 64 MiB
 * with a full GC every 64 MiB).
 */
const MAJOR_CHECK_BYTES = 4 << 20;

/**
 * Buffer memory grown by more than this over the mark calls for a full GC. A download's own buffers (socket read,
 * TLS gather, slot stage and comparison window, a piece or two) add ~3 MiB after the counter is made: the first full
 * GC may be for them, and then raises the mark.
 */
const MAJOR_ABOVE_BYTES = 6 << 20;

function collect(gc: GcFunction, type: 'major' | 'minor'): void {
  try {
    // A full GC is gc() with no argument: V8 11.3 (Node 20) reads only `type: 'minor'` and `execution: 'async'`
    // from an options object and takes any other object as the legacy truthy argument, a minor GC
    // (src/extensions/gc-extension.cc, Parse): `gc({ type: 'major' })` ran a Scavenge (node --trace-gc), so
    // buffers promoted during a download were never freed by it (issue 10 #9). No argument is a full GC in every V8.
    if (type === 'major') gc();
    else gc({ type: 'minor' });
  } catch {
    // a runtime whose gc() rejects the options: not worth failing a download over
  }
}
