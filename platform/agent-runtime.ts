// How the agent process is started on a device: the simulator's power loop and the systemd unit use the same
// environment and Node flags. Each item was measured (docs/benchmarks.md, "Where the memory goes").

/** Two malloc arenas instead of glibc's 8 per core: ~5 MiB less peak resident memory during a download. */
export const AGENT_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

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
