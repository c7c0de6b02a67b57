// The status LED's patterns and the reset button's hold logic over a recording line, with a scripted clock: which
// level is written when, that show() never waits for the line, that a failing LED is reported once, that the button
// fires once per hold and never for a button already pressed when the agent starts. And the status words.
import { describe, expect, it } from 'vitest';
import { deviceStatus } from '../../agent/core/device-status.js';
import { initialFirmwareState } from '../../agent/core/firmware-machine.js';
import type { GpioLine } from '../../agent/adapters/gpio-port.js';
import { PATTERNS, RELEASE_DEBOUNCE_MS, ResetButton, StatusLed, type Timers } from '../../agent/adapters/gpio-status.js';

/** A clock the test advances by hand. */
function clock() {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const t: Timers = {
    setTimeout: (fn, ms) => (timers.set(++seq, { at: now + ms, fn }), seq),
    clearTimeout: (id) => void timers.delete(id as number),
  };
  const advance = async (ms: number) => {
    const end = now + ms;
    for (;;) {
      // let pending writes settle first, as real time between two steps would
      await new Promise((r) => setImmediate(r));
      const next = [...timers.entries()].sort((a, b) => a[1].at - b[1].at)[0];
      if (!next || next[1].at > end) break;
      timers.delete(next[0]);
      now = next[1].at;
      next[1].fn();
    }
    now = end;
  };
  return { t, advance, now: () => now };
}

/** An output that records (time, level); `slow` leaves writes pending until released. */
function recorder(c: ReturnType<typeof clock>) {
  const writes: [number, boolean][] = [];
  let pending: (() => void)[] | undefined;
  let fail = false;
  const line: GpioLine = {
    set: (on) => {
      if (fail) return Promise.reject(new Error('EIO'));
      writes.push([c.now(), on]);
      return pending ? new Promise((r) => pending!.push(r)) : Promise.resolve();
    },
    watch: () => () => undefined,
    close: async () => undefined,
  };
  return { line, writes, stall: () => (pending = []), release: () => (pending?.forEach((r) => r()), (pending = undefined)), failing: () => (fail = true) };
}

describe('status LED', () => {
  it('blinks each status with its own pattern, switching at once', async () => {
    const c = clock();
    const r = recorder(c);
    const led = new StatusLed(r.line, () => undefined, c.t);
    led.show('idle');
    await c.advance(6000);
    expect(r.writes).toEqual([[0, true], [100, false], [3000, true], [3100, false], [6000, true]]);
    r.writes.length = 0;
    led.show('downloading');
    await c.advance(1600);
    expect(r.writes).toEqual([[6000, true], [6500, false], [7000, true], [7500, false]]);
    r.writes.length = 0;
    led.show('error');
    await c.advance(2000);
    expect(r.writes.map(([t, v]) => [t - 7600, v])).toEqual([[0, true], [100, false], [250, true], [350, false], [2000, true]]);
    expect(PATTERNS.updating).toEqual([150, 150]);
    // showing the same status again does not restart the pattern
    r.writes.length = 0;
    led.show('error');
    expect(r.writes).toEqual([]);
  });

  it('never waits for a slow line: a step whose write is still pending is skipped', async () => {
    const c = clock();
    const r = recorder(c);
    const led = new StatusLed(r.line, () => undefined, c.t);
    r.stall();
    led.show('updating');
    await c.advance(600);
    expect(r.writes).toEqual([[0, true]]); // one write in flight, the later steps skipped
    r.release();
    await Promise.resolve();
    await c.advance(300);
    expect(r.writes.length).toBeGreaterThan(1);
  });

  it('a failing line is reported once and the LED stops', async () => {
    const c = clock();
    const r = recorder(c);
    const errors: unknown[] = [];
    const led = new StatusLed(r.line, (e) => errors.push(e), c.t);
    r.failing();
    led.show('downloading');
    await c.advance(5000);
    led.show('error');
    await c.advance(5000);
    expect(errors).toHaveLength(1);
  });
});

describe('reset button', () => {
  function button(holdMs = 10_000) {
    const c = clock();
    let report: (on: boolean) => void = () => undefined;
    const line: GpioLine = { set: async () => undefined, watch: (fn) => ((report = fn), () => undefined), close: async () => undefined };
    let held = 0;
    const b = new ResetButton(line, holdMs, () => held++, c.t);
    b.start();
    return { c, press: (on: boolean) => report(on), held: () => held };
  }

  it('fires once after the hold time; a release before it cancels', async () => {
    const { c, press, held } = button();
    press(false); // the first reading: released
    press(true);
    await c.advance(9_999);
    press(false);
    await c.advance(10_000);
    expect(held()).toBe(0);
    press(true);
    await c.advance(10_000);
    expect(held()).toBe(1);
    await c.advance(60_000);
    expect(held()).toBe(1); // once per press
    press(false);
    await c.advance(100);
    press(true);
    await c.advance(10_000);
    expect(held()).toBe(2);
  });

  it('debounces: a release shorter than 50 ms neither ends the hold nor restarts it; a longer one does', async () => {
    const { c, press, held } = button();
    press(false);
    // contact bounce as the button goes down, then a glitch halfway through the hold
    press(true);
    press(false);
    press(true);
    await c.advance(5_000);
    press(false);
    await c.advance(RELEASE_DEBOUNCE_MS - 10);
    press(true);
    await c.advance(5_000 - RELEASE_DEBOUNCE_MS + 10 - 1);
    expect(held()).toBe(0);
    await c.advance(1);
    expect(held()).toBe(1); // 10 s after the first press, not after the glitch
    press(false);
    await c.advance(RELEASE_DEBOUNCE_MS);
    // a real release (over 50 ms) at 9.9 s: the next press starts from zero
    press(true);
    await c.advance(9_900);
    press(false);
    await c.advance(RELEASE_DEBOUNCE_MS);
    press(true);
    await c.advance(9_999);
    expect(held()).toBe(1);
    await c.advance(1);
    expect(held()).toBe(2);
  });

  it('the hold time running out during a bounce: decided once the release is confirmed or taken back', async () => {
    const { c, press, held } = button();
    press(false);
    press(true);
    await c.advance(9_990);
    press(false); // a bounce or the finger leaving, 10 ms before the time is up
    await c.advance(20);
    press(true); // ...taken back: the press went on past 10 s
    await c.advance(RELEASE_DEBOUNCE_MS);
    expect(held()).toBe(1);
    press(false);
    await c.advance(100);
    press(true);
    await c.advance(9_990);
    press(false); // let go for good 10 ms before the time: no reset
    await c.advance(60_000);
    expect(held()).toBe(1);
  });

  it('a button already pressed at start (stuck) must be released and pressed again', async () => {
    const { c, press, held } = button();
    press(true);
    await c.advance(30_000);
    expect(held()).toBe(0);
    press(false);
    press(true);
    await c.advance(10_000);
    expect(held()).toBe(1);
  });
});

describe('device status words', () => {
  it('idle, downloading, updating, and error after a failed attempt (not after a cancel or a success)', () => {
    const s = initialFirmwareState();
    expect(deviceStatus(s)).toBe('idle');
    expect(deviceStatus({ ...s, phase: 'downloading' })).toBe('downloading');
    expect(deviceStatus({ ...s, phase: 'downloaded' })).toBe('idle');
    expect(deviceStatus({ ...s, phase: 'updating', step: 'verifying' })).toBe('updating');
    expect(deviceStatus({ ...s, result: 8 })).toBe('error');
    expect(deviceStatus({ ...s, result: 10 })).toBe('idle');
    expect(deviceStatus({ ...s, result: 1 })).toBe('idle');
  });
});
