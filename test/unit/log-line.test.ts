// The hub's log lines: a level on every one (from the caller, else from the message), journald priorities.
import { describe, expect, it } from 'vitest';
import { jsonLines, levelOf } from '../../cli/log-line.js';

describe('hub log lines', () => {
  it.each([
    ['job scheduled', undefined, 'info'],
    ['embedded MQTT broker listening', undefined, 'info'],
    ['lost the connection to the broker: reconnecting', undefined, 'warn'],
    ['job database locked by another process: waiting to open it', undefined, 'warn'],
    ['hub api: 401 GET /v1/jobs from 127.0.0.1', undefined, 'warn'],
    ['child run failed in the hub (it resumes at the next hub start)', { error: 'x' }, 'error'],
    ['hub api: 500 GET /v1/jobs: Error: boom', undefined, 'error'],
    ['shutdown step failed', undefined, 'error'],
    ['anything', { level: 'warn' }, 'warn'],
  ] as const)('%s → %s', (msg, fields, level) => {
    expect(levelOf(msg, fields)).toBe(level);
  });

  it('writes one JSON line with time, component, msg, fields and level; the priority prefix only under journald', () => {
    const out: string[] = [];
    jsonLines('fota-hub', { journal: false, write: (l) => out.push(l) })('job finished', { jobId: 'j1' });
    jsonLines('fota-hub', { journal: true, write: (l) => out.push(l) })('broker connection error', { error: 'ECONNREFUSED' });
    expect(JSON.parse(out[0]!)).toMatchObject({ component: 'fota-hub', msg: 'job finished', jobId: 'j1', level: 'info' });
    expect(out[1]).toMatch(/^<3>\{/);
    expect(JSON.parse(out[1]!.slice(3))).toMatchObject({ level: 'error', error: 'ECONNREFUSED' });
  });
});
