// JobStore commits the writes of one turn of the event loop together (hub/jobs/turn-writer.ts), on a real SQLite file
// in a temp dir. What is observed is SQLite's: commit frames in the WAL file, a second connection on the same file,
// and real write failures (this process's file-size limit, RLIMIT_FSIZE, as a full disk), never a mock.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
// better-sqlite3 raw: the second connection, and the fault injection (a trigger)
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JobStoreError } from '../../hub/jobs/job-model.js';
import { JobStore, type CommitFailure, type JobStoreOptions } from '../../hub/jobs/job-store.js';
import type { Response } from '../../protocol/messages.js';
import { startJobService, type JobServiceRig } from '../helpers/job-service-rig.js';

const DEVICES = Array.from({ length: 10 }, (_, i) => ({ DeviceId: `d${i}` }));
let dir: string;
let file: string;
const opened: { close(): void }[] = [];

const open = (options: JobStoreOptions = {}) => {
  const s = JobStore.open(file, options);
  opened.push(s);
  return s;
};
/** another connection on the same file, as another process would have */
const other = () => {
  const db = new Database(file);
  db.pragma('busy_timeout = 0');
  opened.push(db);
  return db;
};
/** the end of this turn: the store's commit (a setImmediate queued at the turn's first write) has run before */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const progressSeenBy = (db: Database.Database, jobId: string) => (db.prepare('SELECT progress FROM jobs WHERE job_id = ?').get(jobId) as { progress: number }).progress;

/**
 * Commits in the WAL file, read from the file as SQLite wrote it: frames of the current WAL generation (the header's
 * salts) whose header carries the database size after a commit (non-zero only on a transaction's last frame).
 */
function walCommits(): number {
  let wal: Buffer;
  try {
    wal = readFileSync(`${file}-wal`);
  } catch {
    return 0;
  }
  if (wal.length < 32) return 0;
  const pageSize = wal.readUInt32BE(8);
  const salts = [wal.readUInt32BE(16), wal.readUInt32BE(20)];
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salts[0] || wal.readUInt32BE(at + 12) !== salts[1]) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return commits;
}

// A write past this process's file-size limit fails with EFBIG (Node ignores SIGXFSZ): SQLite reports it as
// SQLITE_IOERR_WRITE, as it would a full disk. Only the soft limit moves; each test file runs in its own process.
const originalLimit = execFileSync('prlimit', ['--pid', String(process.pid), '--fsize', '--raw', '--noheadings', '--output', 'SOFT']).toString().trim();
const limitFileSize = (bytes: number | undefined) => execFileSync('prlimit', ['--pid', String(process.pid), `--fsize=${bytes ?? originalLimit}:`]);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fota-turn-'));
  file = join(dir, 'jobs.db');
});
afterEach(() => {
  limitFileSize(undefined);
  for (const c of opened.splice(0).reverse()) c.close();
  rmSync(dir, { recursive: true, force: true });
});

/** a store with a job of 10 queued children, committed */
async function storeWithJob(options: JobStoreOptions = {}): Promise<JobStore> {
  const store = open(options);
  store.createJob({ JobId: 'j', Type: 'reboot', Parameters: { timeoutSeconds: 60 } }, DEVICES);
  await turn();
  return store;
}

describe('one commit per turn', () => {
  it('commits 50 updates and appends made in one turn with one commit, at the end of the turn', async () => {
    const store = await storeWithJob();
    expect(store.coalescing).toBe(true);
    const before = walCommits();
    for (let i = 0; i < 40; i++) store.update(`j~d${i % 10}`, { Progress: i + 1 });
    for (let i = 0; i < 10; i++) store.appendLog(`j~d${i}`, { step: 'uri written' });
    expect(walCommits() - before, 'commits during the turn').toBe(0);
    await turn();
    expect(walCommits() - before, 'commits after the turn').toBe(1);
    expect(store.get('j~d9')).toMatchObject({ Progress: 40, Log: [{ step: 'uri written' }] });
  });

  it('commits every write on its own with coalescing off, as before', async () => {
    const store = await storeWithJob({ coalesce: false });
    expect(store.coalescing).toBe(false);
    const db = other();
    const before = walCommits();
    for (let i = 0; i < 40; i++) {
      store.update(`j~d${i % 10}`, { Progress: i + 1 });
      expect(progressSeenBy(db, `j~d${i % 10}`)).toBe(i + 1);
    }
    for (let i = 0; i < 10; i++) store.appendLog(`j~d${i}`, { step: 'uri written' });
    expect(walCommits() - before).toBe(50);
    await turn();
    expect(walCommits() - before).toBe(50);
  });

  it("coalesces by default with durability 'normal' only: with 'full' a write is on disk when it returns", () => {
    expect(open().coalescing).toBe(true);
    expect(open({ durability: 'full' }).coalescing).toBe(false);
    expect(open({ durability: 'full', coalesce: true }).coalescing).toBe(true);
    expect(open({ coalesce: false }).coalescing).toBe(false);
  });

  it("hides the turn's writes from another connection until the turn ends, then shows them all at once", async () => {
    const store = await storeWithJob();
    const db = other();
    for (let i = 0; i < 10; i++) store.update(`j~d${i}`, { Status: 'Running', Progress: 50 });
    // this connection reads its own writes; the other one still sees the last commit
    expect(store.summary('j').Running).toBe(10);
    expect(DEVICES.map((d) => progressSeenBy(db, `j~${d.DeviceId}`))).toEqual(Array(10).fill(0));
    // and cannot write before the turn ends (the write lock), but can right after it: nobody is starved past the turn
    expect(() => db.exec(`UPDATE jobs SET status_message = 'other' WHERE job_id = 'j'`)).toThrow(expect.objectContaining({ code: 'SQLITE_BUSY' }));
    await turn();
    expect(DEVICES.map((d) => progressSeenBy(db, `j~${d.DeviceId}`))).toEqual(Array(10).fill(50));
    db.exec(`UPDATE jobs SET status_message = 'other' WHERE job_id = 'j'`);
    expect(store.get('j')?.StatusMessage).toBe('other');
  });

  it('undoes only a write that throws: nothing of it is changed, and the other writes of its turn commit', async () => {
    const store = await storeWithJob();
    const raw = other();
    raw.exec(`CREATE TRIGGER boom BEFORE INSERT ON jobs WHEN NEW.device_id = 'dev-3' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);
    const before = walCommits();
    store.update('j~d0', { Progress: 10 });
    // inserts the parent and two children, then fails on the third: a SAVEPOINT of the turn's transaction undoes them
    const devices = ['dev-1', 'dev-2', 'dev-3', 'dev-4'].map((DeviceId) => ({ DeviceId }));
    expect(() => store.createJob({ JobId: 'k', Type: 'reboot', Parameters: { timeoutSeconds: 60 } }, devices)).toThrow(/injected failure; nothing was changed/);
    expect(store.get('k')).toBeUndefined();
    expect(store.get('k~dev-1')).toBeUndefined();
    // a refusal from the store's own rules in the middle of the turn
    store.update('j~d2', { Status: 'Completed' });
    expect(() => store.update('j~d2', { Status: 'Failed' })).toThrow(expect.objectContaining({ code: 'invalid-update' }));
    store.update('j~d1', { Progress: 11 });
    await turn();
    expect(walCommits() - before).toBe(1);
    expect(raw.prepare(`SELECT job_id, progress, status FROM jobs WHERE job_id IN ('j~d0', 'j~d1', 'j~d2') ORDER BY job_id`).all()).toEqual([
      { job_id: 'j~d0', progress: 10, status: 'Queued' },
      { job_id: 'j~d1', progress: 11, status: 'Queued' },
      { job_id: 'j~d2', progress: 100, status: 'Completed' },
    ]);
    expect(raw.prepare(`SELECT count(*) AS n FROM jobs WHERE job_id = 'k' OR parent_job_id = 'k'`).get()).toEqual({ n: 0 });
  });

  it('keeps the writes of the turn when the store is closed in it (reopened, they are there)', () => {
    let store = open();
    store.createJob({ JobId: 'j', Type: 'reboot', Parameters: { timeoutSeconds: 60 } }, DEVICES);
    store.update('j~d3', { Status: 'Running', Progress: 30 });
    store.appendLog('j~d3', { step: 'reboot executed', detail: 'r1' });
    store.close();
    store = open();
    expect(store.get('j~d3')).toMatchObject({ Status: 'Running', Progress: 30, Log: [{ step: 'reboot executed', detail: 'r1' }] });
    expect(store.children('j')).toHaveLength(10);
  });

  it('commits at once on flush(), and committed() resolves once the turn is committed', async () => {
    const store = await storeWithJob();
    const db = other();
    await store.committed(); // nothing waits: at once
    store.update('j~d0', { Progress: 1 });
    const committed = store.committed();
    let done = false;
    void committed.then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    expect(progressSeenBy(db, 'j~d0')).toBe(0);
    await committed;
    expect(progressSeenBy(db, 'j~d0')).toBe(1);
    store.update('j~d0', { Progress: 2 });
    store.flush();
    expect(progressSeenBy(db, 'j~d0')).toBe(2);
  });
});

describe("the turn's transaction and everything else", () => {
  it('reads one snapshot inside an open turn: it sees the turn, and the turn stays open until its end', async () => {
    const store = await storeWithJob();
    const db = other();
    store.update('j~d0', { Status: 'Running' });
    const seen = store.snapshot(() => [store.summary('j').Running, store.get('j~d0')?.Status]);
    expect(seen).toEqual([1, 'Running']);
    store.update('j~d1', { Status: 'Running' });
    expect(store.summary('j').Running).toBe(2);
    expect(db.prepare(`SELECT count(*) AS n FROM jobs WHERE status = 'Running'`).get()).toEqual({ n: 0 });
    await turn();
    expect(db.prepare(`SELECT count(*) AS n FROM jobs WHERE status = 'Running'`).get()).toEqual({ n: 2 });
  });

  it("commits a turn begun in the check phase before a later iteration's I/O callback reads the store", async () => {
    const store = await storeWithJob();
    const db = other();
    // a loopback connection: what the client writes is readable at the server's next poll phase
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const connection = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    const accepted = await connection;
    const seen = await new Promise<{ loops: number[]; before: number; after: number }>((resolve) => {
      setImmediate(() => {
        // a write in the check phase (as a setImmediate'd pump): the commit it schedules runs in the next check phase
        store.update('j~d0', { Progress: 7 });
        const loop = performance.nodeTiming.uvMetricsInfo.loopCount;
        accepted.once('data', () => {
          const before = progressSeenBy(db, 'j~d0');
          store.get('j~d5'); // any call of the store, as an API query
          resolve({ loops: [loop, performance.nodeTiming.uvMetricsInfo.loopCount], before, after: progressSeenBy(db, 'j~d0') });
        });
        client.write('x');
      });
    });
    client.destroy();
    accepted.destroy();
    server.close();
    expect(seen.loops[1], 'the data arrives in the next iteration').toBe((seen.loops[0] ?? 0) + 1);
    expect(seen).toMatchObject({ before: 0, after: 7 });
  });

  it('probes the write lock of other processes: the turn is committed first, and a lock held elsewhere is busy', async () => {
    const store = await storeWithJob({ busyTimeoutMs: 20 });
    const db = other();
    store.update('j~d0', { Progress: 3 });
    store.probeWrite();
    expect(progressSeenBy(db, 'j~d0')).toBe(3);
    db.exec('BEGIN IMMEDIATE');
    expect(() => store.probeWrite()).toThrow(expect.objectContaining({ code: 'busy' }));
    // the first write of a turn cannot begin it: busy, nothing changed, and no turn is left half open
    expect(() => store.update('j~d0', { Progress: 4 })).toThrow(/another process holds the job database's lock; nothing was changed/);
    db.exec('COMMIT');
    store.update('j~d0', { Progress: 5 });
    await turn();
    expect(progressSeenBy(db, 'j~d0')).toBe(5);
  });
});

describe('a commit that fails', () => {
  it('undoes the turn, tells every listener which writes were lost, and from then on commits each write before it returns', async () => {
    const store = await storeWithJob();
    const db = other();
    const failures: CommitFailure[] = [];
    store.onCommitFailure((f) => {
      limitFileSize(undefined); // the disk has room again right after
      failures.push(f);
    });
    // the disk is full: the writes go to SQLite's page cache, and the commit at the end of the turn cannot write the WAL
    limitFileSize(1);
    store.update('j~d0', { Status: 'Running', Progress: 10 });
    store.appendLog('j~d1', { step: 'reboot executed', detail: 'r1' });
    store.update('j~d2', { Status: 'Completed' });
    const committed = store.committed();
    const before = walCommits();
    await expect(committed).rejects.toSatisfy((e: unknown) => e instanceof JobStoreError && e.code === 'storage' && /3 write\(s\) .* undone .*commit failed: disk I\/O error/.test(e.message));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ count: 3, lost: ['update job j~d0', 'append to the log of job j~d1', 'update job j~d2'] });
    expect(failures[0]?.error.code).toBe('storage');
    // undone for this connection too, and for the other one nothing happened
    expect(store.get('j~d0')).toMatchObject({ Status: 'Queued', Progress: 0 });
    expect(store.get('j~d1')?.Log).toEqual([]);
    expect(store.summary('j').Queued).toBe(10);
    expect(walCommits()).toBe(before);
    // the store recovers, and no longer tells a caller "done" before the commit: each write is on its own
    expect(store.coalescing).toBe(false);
    store.update('j~d0', { Progress: 20 });
    expect(progressSeenBy(db, 'j~d0')).toBe(20);
    store.update('j~d1', { Progress: 21 });
    expect(walCommits() - before).toBe(2);
    await turn();
    store.update('j~d2', { Progress: 22 });
    expect(progressSeenBy(db, 'j~d2')).toBe(22);
    expect(failures).toHaveLength(1);
  });

  it('reaches the caller of flush() (and the listeners), and a later write that fails reaches its own caller', async () => {
    const store = await storeWithJob();
    const failures: CommitFailure[] = [];
    store.onCommitFailure((f) => failures.push(f));
    store.update('j~d0', { Progress: 10 });
    limitFileSize(1);
    try {
      expect(() => store.flush()).toThrow(/1 write\(s\) to the job database were undone/);
      // the disk is still full: the next write is its own transaction, fails, and says so to its caller
      expect(() => store.update('j~d1', { Progress: 11 })).toThrow(/disk I\/O error; nothing was changed/);
    } finally {
      limitFileSize(undefined);
    }
    await vi.waitFor(() => expect(failures).toHaveLength(1));
    expect(failures[0]).toMatchObject({ count: 1, lost: ['update job j~d0'] });
    expect(store.get('j~d0')?.Progress).toBe(0);
    expect(store.get('j~d1')?.Progress).toBe(0);
    store.update('j~d1', { Progress: 12 });
    store.close();
    expect(open().get('j~d1')?.Progress).toBe(12);
  });
});

describe('the job service on a store that commits per turn', () => {
  let rig: JobServiceRig | undefined;
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  it('sends a request only once what the driver wrote before it is committed (save before acting)', async () => {
    const seenByOthers: (string | undefined)[] = [];
    let db: Database.Database | undefined;
    const request = async (ep: string, body: { op: string; path: string }): Promise<Response> => {
      if (body.op !== 'execute') return { id: '1', code: '2.05', value: '1.0.0' };
      // the device is told to reboot: "reboot executed" must be in the database for everyone, not only in our turn
      db ??= new Database(file, { readonly: true });
      const row = db.prepare('SELECT log_json FROM jobs WHERE job_id = ?').get(`rb~${ep}`) as { log_json: string };
      seenByOthers.push((JSON.parse(row.log_json) as { step: string }[]).at(-1)?.step);
      return { id: '2', code: '2.04' };
    };
    rig = await startJobService(request);
    file = join(rig.dir, 'jobs.db');
    for (const id of ['a', 'b']) rig.online(id, 'r1');
    rig.service.schedule({ jobId: 'rb', type: 'reboot', deviceIds: ['a', 'b'], parameters: { timeoutSeconds: 120 } });
    await vi.waitFor(() => expect(seenByOthers).toHaveLength(2));
    db?.close();
    expect(seenByOthers).toEqual(['reboot executed', 'reboot executed']);
    for (const id of ['a', 'b']) rig.online(id, 'r2');
    await vi.waitFor(() => expect(rig!.store.get('rb')?.Status).toBe('Completed'));
  });

  it('drives every child whose end was undone again from its device, one driver per child, and finishes the job', async () => {
    const held: { ep: string; answer: () => void }[] = [];
    const asked = new Map<string, number>();
    let overlapping = 0;
    const inFlight = new Set<string>();
    const request = (ep: string): Promise<Response> => {
      asked.set(ep, (asked.get(ep) ?? 0) + 1);
      if (inFlight.has(ep)) overlapping++;
      inFlight.add(ep);
      return new Promise((resolve) => held.push({ ep, answer: () => (inFlight.delete(ep), resolve({ id: '1', code: '2.05', value: '2.0.0' })) }));
    };
    const logs: { msg: string; fields?: Record<string, unknown> }[] = [];
    rig = await startJobService(request, (msg, fields) => logs.push(fields ? { msg, fields } : { msg }));
    const ids = ['a', 'b', 'c', 'd'];
    for (const id of ids) rig.online(id);
    rig.service.schedule({ jobId: 'rd', type: 'read-device-properties', deviceIds: ids, parameters: { paths: ['/3/0/3'], timeoutSeconds: 120 } });
    await vi.waitFor(() => expect(held).toHaveLength(4));
    rig.store.onCommitFailure(() => limitFileSize(undefined));
    // every device answers in one turn, and the commit of the four ends fails (a full disk until it failed)
    limitFileSize(1);
    held.splice(0).forEach((h) => h.answer());
    // the service drives the four again: each device is asked once more
    await vi.waitFor(() => expect(held).toHaveLength(4), { timeout: 5000 });
    const failed = logs.find((l) => l.msg.startsWith('job database commit failed'));
    expect(failed?.fields).toMatchObject({ undone: 4 });
    expect(failed?.fields?.['writes']).toEqual(expect.arrayContaining(ids.map((id) => `update job rd~${id}`)));
    expect(ids.map((id) => rig!.store.get(`rd~${id}`)?.Status)).toEqual(['Running', 'Running', 'Running', 'Running']);
    held.splice(0).forEach((h) => h.answer());
    await vi.waitFor(() => expect(rig!.store.get('rd')?.Status).toBe('Completed'), { timeout: 5000 });
    expect(rig.store.get('rd')?.StatusMessage).toBe('4 devices: 4 succeeded, 0 failed');
    expect(Object.fromEntries(asked)).toEqual({ a: 2, b: 2, c: 2, d: 2 });
    expect(overlapping).toBe(0);
    expect(rig.store.coalescing).toBe(false);
  });
});
