// The pace rules of a download (agent/adapters/download-pace.ts) with made-up times: progress, the low-speed window,
// the average and the deadline. The HTTP side is covered against real servers in test/integration/http-source.test.ts.
import { describe, expect, it } from 'vitest';
import { Pace, PROGRESS_BYTES, type PaceLimits } from '../../agent/adapters/download-pace.js';

const limits = (over: Partial<PaceLimits> = {}): PaceLimits => ({ stallTimeoutMs: 1000, minBytesPerSec: 100, minAverageBytesPerSec: 0, deadlineMs: 0, ...over });

describe('Pace', () => {
  it('counts an attempt as progress only from PROGRESS_BYTES on', () => {
    const p = new Pace(limits(), 0);
    p.attempt();
    p.received(PROGRESS_BYTES - 1, 10);
    expect(p.progressed).toBe(false);
    p.received(1, 10);
    expect(p.progressed).toBe(true);
    p.attempt();
    expect(p.progressed).toBe(false);
  });

  it('judges a window by the bytes it brought in stallTimeoutMs of waiting', () => {
    const p = new Pace(limits(), 0);
    p.attempt();
    expect(p.nextWaitMs()).toBe(1000);
    p.received(30, 400);
    expect(p.nextWaitMs()).toBe(600);
    expect(p.stallVerdict('srv', 30)).toBe('only 30 bytes from srv in 1000 ms, below the minimum of 100 bytes/s at byte 30');
    // a window that got its 100 bytes starts again
    p.attempt();
    p.received(100, 900);
    expect(p.nextWaitMs()).toBe(1000);
    p.attempt();
    expect(p.stallVerdict('srv', 0)).toBe('no data from srv for 1000 ms at byte 0');
  });

  it('fails the whole download when its average falls below the minimum, after one window of warm-up', () => {
    const p = new Pace(limits({ minAverageBytesPerSec: 50, minBytesPerSec: 0 }), 0);
    p.attempt();
    p.received(1, 900); // 1 byte in 0.9 s: still warming up
    expect(() => p.received(1, 200)).toThrow(expect.objectContaining({ code: 'too-slow', message: expect.stringMatching(/averaged 1\.82 bytes\/s over 1 s .*\(2 bytes\), below the minimum of 50 bytes\/s/) }));
    const q = new Pace(limits({ minAverageBytesPerSec: 50 }), 0);
    q.attempt();
    expect(() => q.stallVerdict('srv', 0)).toThrow(expect.objectContaining({ code: 'too-slow' }));
    const fast = new Pace(limits({ minAverageBytesPerSec: 50 }), 0);
    fast.attempt();
    fast.received(60, 1000);
    fast.received(60, 1000);
    expect(fast.progressed).toBe(false);
  });

  it('has a deadline only when configured', () => {
    expect(new Pace(limits(), 5).remainingMs(1e12)).toBe(Infinity);
    const p = new Pace(limits({ deadlineMs: 2500 }), 100);
    expect(p.remainingMs(600)).toBe(2000);
    expect(p.deadlineError(10, undefined).message).toMatch(/deadline of 2\.5 s \(download\.deadlineSec\): 10 of an unknown number of bytes/);
  });
});
