// Request intake as pure logic: the request log (one act per id, bounded, durable before acting, shared saves),
// admission (bounded work in progress, a rate per kind) and the intake that ties them to the daemon's handler.
import { describe, expect, it } from 'vitest';
import { RequestAdmission, kindOf } from '../../agent/core/request-admission.js';
import { RequestIntake } from '../../agent/core/request-intake.js';
import { MAX_REMEMBERED, RequestLog } from '../../agent/core/request-log.js';
import type { Request, Response } from '../../protocol/messages.js';
import { MemoryStore, memoryLogger } from '../helpers/fakes.js';

const write = (id: string, path = '/3/0/15'): Request => ({ id, op: 'write', path, value: 'Europe/Berlin' });

describe('request log', () => {
  it('remembers ids with their answers across a reload, bounded to the newest', async () => {
    const store = new MemoryStore();
    const log = new RequestLog(store);
    for (let i = 0; i < MAX_REMEMBERED + 10; i++) {
      await log.remember(`r${i}`);
      log.answered({ id: `r${i}`, code: '2.04' });
    }
    log.answered({ id: 'never-remembered', code: '2.04' });
    await log.flush();
    const again = new RequestLog(store);
    await again.load();
    expect(again.has('r0')).toBe(false);
    expect(again.has(`r${MAX_REMEMBERED + 9}`)).toBe(true);
    expect(again.has('never-remembered')).toBe(false);
    expect(again.repeat(`r${MAX_REMEMBERED + 9}`)).toEqual({ id: `r${MAX_REMEMBERED + 9}`, code: '2.04' });
    expect((store.value as { ids: unknown[] }).ids).toHaveLength(MAX_REMEMBERED);
  });

  it('an id remembered before a crash but never answered is refused, not acted on, after the restart', async () => {
    const store = new MemoryStore();
    await new RequestLog(store).remember('x');
    const again = new RequestLog(store);
    await again.load();
    expect(again.repeat('x')).toMatchObject({ code: '4.00', reason: expect.stringContaining('not acted on twice') });
  });

  it('a burst of remembers shares saves, and every caller resolves only after a save that holds its id', async () => {
    const store = new MemoryStore();
    const log = new RequestLog(store);
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.remember(`b${i}`).then(() => expect(JSON.stringify(store.value)).toContain(`"b${i}"`))));
    expect(store.saved.length).toBeLessThanOrEqual(3);
    // nothing changed since: flushing does not save
    const n = store.saved.length;
    await log.flush();
    expect(store.saved.length).toBe(n);
  });
});

describe('request admission', () => {
  it('kinds: reads share one budget, writes and executes have one per object', () => {
    expect(kindOf({ id: 'a', op: 'observe', path: '/5/0' })).toBe('read');
    expect(kindOf(write('a', '/5/0/1'))).toBe('firmware');
    expect(kindOf({ id: 'a', op: 'execute', path: '/3/0/4' })).toBe('device');
    expect(kindOf(write('a', '/26241/0'))).toBe('config');
    expect(kindOf(write('a', '/9/0/1'))).toBe('other');
  });

  it('refuses beyond the burst until time refills the bucket; other kinds are not affected', () => {
    const a = new RequestAdmission(0, 1000, { read: { perSec: 10, burst: 5 }, device: { perSec: 1, burst: 2 }, firmware: { perSec: 1, burst: 1 }, config: { perSec: 1, burst: 1 }, other: { perSec: 1, burst: 1 } });
    const results = Array.from({ length: 4 }, () => a.admit(write('w'), 0).ok);
    expect(results).toEqual([true, true, false, false]);
    expect(a.admit(write('f', '/5/0/1'), 0).ok).toBe(true);
    expect(a.admit(write('w'), 1000).ok).toBe(true);
    expect(a.admit(write('w'), 1000).ok).toBe(false);
    // a clock stepping back neither refills nor throws
    expect(a.admit(write('w'), -5000).ok).toBe(false);
  });

  it('bounds the requests in progress; finishing one admits the next', () => {
    const a = new RequestAdmission(0, 2);
    const one = a.admit({ id: '1', op: 'read', path: '/3/0' }, 0);
    const two = a.admit({ id: '2', op: 'read', path: '/3/0' }, 0);
    const three = a.admit({ id: '3', op: 'read', path: '/3/0' }, 0);
    expect([one.ok, two.ok, three.ok]).toEqual([true, true, false]);
    expect(three.ok ? '' : three.reason).toContain('busy');
    if (one.ok) {
      one.done();
      one.done(); // idempotent
    }
    expect(a.admit({ id: '4', op: 'read', path: '/3/0' }, 0).ok).toBe(true);
    expect(a.admit({ id: '5', op: 'read', path: '/3/0' }, 0).ok).toBe(false);
  });
});

function intake(handle: (req: Request, record: () => Promise<void>) => Promise<Response>, opts: { maxPending?: number; store?: MemoryStore } = {}) {
  const responses: Response[] = [];
  const logger = memoryLogger();
  const log = new RequestLog(opts.store ?? new MemoryStore());
  const i = new RequestIntake({ log, admission: new RequestAdmission(0, opts.maxPending ?? 32), now: () => 0, logger, respond: (r) => responses.push(r), handle });
  return { i, responses, logger, log };
}

describe('request intake', () => {
  it('acts once per id: a duplicate in progress gets the same answer, a later one the recorded answer', async () => {
    let acted = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { i, responses } = intake(async (req, record) => {
      await record();
      acted++;
      await gate;
      return { id: req.id, code: '2.04' };
    });
    const first = i.submit(write('w1'));
    const dup = i.submit(write('w1'));
    release();
    await Promise.all([first, dup]);
    await i.submit(write('w1'));
    expect(acted).toBe(1);
    expect(responses).toEqual([{ id: 'w1', code: '2.04' }, { id: 'w1', code: '2.04' }, { id: 'w1', code: '2.04' }]);
  });

  it('reads are not recorded (they change nothing) and may repeat an id', async () => {
    let acted = 0;
    const { i, log } = intake(async (req) => (acted++, { id: req.id, code: '2.05', value: 1 }));
    await i.submit({ id: 'r', op: 'read', path: '/3/0/9' });
    await i.submit({ id: 'r', op: 'read', path: '/3/0/9' });
    expect(acted).toBe(2);
    expect(log.has('r')).toBe(false);
  });

  it('the id is durable once record() resolves; a handler that does not act records nothing (no save)', async () => {
    const store = new MemoryStore();
    const { i, log } = intake(async (req, record) => {
      if (req.path === '/3/0/15') {
        await record();
        expect(JSON.stringify(store.value)).toContain(req.id);
      }
      return { id: req.id, code: '2.04' };
    }, { store });
    await i.submit(write('durable'));
    await i.submit(write('refused', '/5/0/3'));
    expect(log.has('durable')).toBe(true);
    expect(log.has('refused')).toBe(false);
    expect(store.saved).toHaveLength(1);
  });

  it('a store that cannot save does not make the device unmanageable: the request is still acted on', async () => {
    const store = new MemoryStore();
    store.save = async () => {
      throw new Error('EROFS: read-only file system');
    };
    let acted = 0;
    const { i, responses, logger } = intake(async (req, record) => (await record(), acted++, { id: req.id, code: '2.04' }), { store });
    await i.submit(write('a'));
    await i.submit(write('a'));
    expect(acted).toBe(1);
    expect(responses.map((r) => r.code)).toEqual(['2.04', '2.04']);
    expect(logger.lines.filter((l) => String(l.msg).includes('could not record'))).toHaveLength(1);
  });

  it('over the limit: 5.03 at once, the handler never runs, the log summarises instead of mirroring', async () => {
    let acted = 0;
    const { i, responses, logger } = intake(async (req) => (acted++, await new Promise((r) => setTimeout(r, 5)), { id: req.id, code: '2.04' }), { maxPending: 2 });
    await Promise.all(Array.from({ length: 200 }, (_, n) => i.submit(write(`f${n}`, '/26241/0/14'))));
    expect(acted).toBe(2);
    const refused = responses.filter((r) => r.code === '5.03');
    // answers to refusals are themselves bounded (a flood of answers would be a flood)
    expect(refused.length).toBeLessThanOrEqual(50);
    expect(refused.length).toBeGreaterThan(0);
    expect(logger.lines.filter((l) => l.msg === 'requests refused')).toHaveLength(1);
  });

  it('a handler that throws answers 5.00 and the id stays recorded', async () => {
    const { i, responses, log } = intake(async (_req, record) => {
      await record();
      throw new Error('boom');
    });
    await i.submit(write('x'));
    expect(responses[0]).toMatchObject({ id: 'x', code: '5.00' });
    expect(log.has('x')).toBe(true);
  });
});
