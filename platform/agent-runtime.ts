// How the agent process is started on a device: the simulator's power loop and the systemd unit use the same
// environment and Node flags. Each item was measured (docs/benchmarks.md, "Where the memory goes").

/**
 * - MALLOC_ARENA_MAX: two malloc arenas instead of glibc's 8 per core: ~5 MiB less peak resident memory during a
 *   download.
 * - MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_: each 512 KiB piece of a download is allocated twice (the socket's
 *   copy, node:http's copy of the body). Above glibc's 128 KiB mmap threshold each was a fresh mmap, its 128 pages
 *   faulted in one by one and unmapped when freed: ~0.9 CPU-s per GiB, 16% of the update. Below a 1 MiB threshold
 *   they come from the heap, whose freed memory is reused, and up to 1 MiB free at its top is kept instead of being
 *   given back and faulted in again. Costs ~1 MiB of private memory at the peak (docs/benchmarks.md, "Where the time
 *   goes").
 */
export const AGENT_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '1048576', MALLOC_TRIM_THRESHOLD_: '1048576' };

/**
 * No JIT: ~5 MiB fewer pages of the node binary touched (the agent's byte path is native code: hashing, HTTP
 * parsing, writes; its JS per chunk is small), and a 1 MiB young generation: ~1–2 MiB less at the peak.
 * --jitless turns WebAssembly off; --no-expose-wasm says so, else V8 warns on stderr (so in the journal) at each
 * start: "disabling flag --expose_wasm due to conflicting flags".
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--jitless', '--no-expose-wasm', '--max-semi-space-size=1'];

/**
 * Flags that only keep the log clean: V8 turns WebAssembly off under --jitless and says so at every start
 * ("Warning: disabling flag --expose_wasm due to conflicting flags") unless it is told first. The agent uses no
 * WebAssembly. (Node refuses --no-expose-wasm in NODE_OPTIONS: it belongs on the command line.)
 */
const QUIET_FLAGS: readonly string[] = ['--no-expose-wasm'];

/** The recommended memory settings this process was started without (empty when it has them all). */
export function missingRuntimeSettings(execArgv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const nodeOptions = (env.NODE_OPTIONS ?? '').split(/\s+/);
  const missing: string[] = AGENT_NODE_FLAGS.filter((f) => !QUIET_FLAGS.includes(f) && !execArgv.includes(f) && !nodeOptions.includes(f));
  for (const [k, v] of Object.entries(AGENT_ENV)) if (env[k] === undefined) missing.push(`${k}=${v}`);
  return missing;
}
