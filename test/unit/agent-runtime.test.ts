import { describe, expect, it } from 'vitest';
import { AGENT_ENV, AGENT_NODE_FLAGS, missingRuntimeSettings } from '../../platform/agent-runtime.js';

describe('the agent runtime settings', () => {
  it('names every flag and variable a process was started without', () => {
    // --no-expose-wasm only silences a warning: its absence costs no memory and is not reported
    const memoryFlags = AGENT_NODE_FLAGS.filter((f) => f !== '--no-expose-wasm');
    expect(missingRuntimeSettings([], {})).toEqual([...memoryFlags, ...Object.entries(AGENT_ENV).map(([k, v]) => `${k}=${v}`)]);
  });

  it('accepts the flags on the command line or in NODE_OPTIONS, and any value of the variables', () => {
    const [first, ...rest] = AGENT_NODE_FLAGS;
    const env = Object.fromEntries(Object.keys(AGENT_ENV).map((k) => [k, '1']));
    expect(missingRuntimeSettings(rest, { ...env, NODE_OPTIONS: `--trace-warnings ${first}` })).toEqual([]);
    expect(missingRuntimeSettings(rest, env)).toEqual([first]);
  });
});
