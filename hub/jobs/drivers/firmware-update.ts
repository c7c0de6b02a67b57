// Firmware-update child job: write Package URI → Downloaded (progress) → execute Update → the device reboots,
// checks its health, commits → Idle + Update Result 1 with the new version. State-driven: every loop re-reads
// Object 5, so a hub restart (or a lost answer) resumes from what the device says, not from memory.
// Never compares the device's clock with the hub's: the attempt id (a fresh id per accepted Package URI) says which
// attempt is this job's. A success is recorded only once the device's own state confirms it (confirmSuccess).

import { Fw, FwState, UpdateResult, UPDATE_RESULT_TEXT, FW_STATE_TEXT, type FwStateValue, type UpdateResultValue } from '../../../protocol/lwm2m.js';
import type { JsonValue } from '../../../protocol/messages.js';
import { valueOf, type Driver, type DriverContext, type DriverEnd } from '../driver.js';

interface FwView {
  state: FwStateValue;
  result: UpdateResultValue;
  reason: string;
  code: string;
  attempt: string;
  progress: number;
  uri: string;
}

function view(v: JsonValue | undefined): FwView {
  const o = (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}) as Record<string, JsonValue>;
  const n = (k: number) => Number(o[String(k)] ?? 0);
  const s = (k: number) => String(o[String(k)] ?? '');
  return {
    state: n(Fw.State) as FwStateValue,
    result: n(Fw.UpdateResult) as UpdateResultValue,
    reason: s(Fw.ResultReason),
    code: s(Fw.ResultCode),
    attempt: s(Fw.AttemptId),
    progress: n(Fw.Progress),
    uri: s(Fw.PackageUri),
  };
}

const INTENT = 'writing package uri';
/** the device's attempt id before this job wrote its URI: a different one with our URI is this job's attempt */
const PRIOR = 'attempt before';
const ATTEMPT = 'attempt';
/** the device's registration when Update was executed: a success must come from a later one (it rebooted) */
const EXECUTING = 'executing update';
const EXECUTED = 'update executed';

/** The driver's observation of /5/0 on the device's current registration. */
interface Observation {
  regId: string;
  token: string;
  /** seq of the newest notification already looked at */
  seq: number;
}

/**
 * Object 5 as the device last said: from a notification newer than the last look (no round trip), else a read.
 * Observes once per registration: the device then notifies State/Progress changes, which also wake the loop.
 */
async function readFw(ctx: DriverContext, obs: Observation): Promise<FwView> {
  const dev = ctx.device();
  if (dev.regId !== obs.regId) {
    const r = await ctx.request({ op: 'observe', path: '/5/0' });
    const value = valueOf(r, 'observe /5/0');
    Object.assign(obs, { regId: dev.regId, token: r.id, seq: -1 });
    return view(value);
  }
  const n = dev.observed.get(obs.token);
  if (n && n.seq > obs.seq) {
    obs.seq = n.seq;
    return view(n.value);
  }
  return view(valueOf(await ctx.request({ op: 'read', path: '/5/0' }), 'read /5/0'));
}

async function version(ctx: DriverContext): Promise<string> {
  return String(valueOf(await ctx.request({ op: 'read', path: '/3/0/3' }), 'read the firmware version') ?? '');
}

function failed(s: FwView): DriverEnd {
  return {
    status: 'Failed',
    message: `Update Result ${s.result} (${UPDATE_RESULT_TEXT[s.result] ?? 'unknown'})${s.reason ? `: ${s.reason}` : ''}`,
    patch: { UpdateResult: s.result, ErrorCode: s.code || null },
  };
}

/**
 * Reads the device's own state back after it reported success for `attempt`, and returns the version it runs, when
 * it confirms: Object 5 read now (not a notification) says Idle + Success for this attempt, the running firmware
 * (/3/0/3) is the package's version (/5/0/7), and the device registered anew since Update was executed (it
 * rebooted). 'not yet' when the fresh read disagrees with what was notified; a Failed end when the device
 * contradicts itself.
 */
async function confirmSuccess(ctx: DriverContext, attempt: string): Promise<string | 'not yet' | DriverEnd> {
  const raw = valueOf(await ctx.request({ op: 'read', path: '/5/0' }), 'read /5/0') as Record<string, JsonValue> | undefined;
  const now = view(raw);
  if (now.attempt !== attempt || now.state !== FwState.Idle || now.result !== UpdateResult.Success) return 'not yet';
  const pkgVersion = String(raw?.[String(Fw.PkgVersion)] ?? '');
  const running = await version(ctx);
  const refuse = (why: string): DriverEnd => ({ status: 'Failed', message: `the device reported success, but ${why}; not recorded as updated`, patch: { UpdateResult: now.result, ErrorCode: 'unconfirmed' } });
  if (pkgVersion !== '' && running !== pkgVersion) return refuse(`it runs ${running || '(no version)'}, not the package's ${pkgVersion}`);
  const executedOn = ctx.logged(EXECUTING)?.detail;
  // the new registration and the answer travel on different topics: give the registration a moment to arrive
  for (let i = 0; i < 5 && executedOn && ctx.device().regId === executedOn; i++) await ctx.wake(2000);
  if (executedOn && ctx.device().regId === executedOn) return refuse('it has not restarted since Update was executed');
  return running;
}

export const firmwareUpdateDriver: Driver = {
  async run(ctx) {
    const uri = ctx.params.packageUri ?? '';
    let before = ctx.job.FirmwareVersionBefore;
    if (before === null) {
      before = await version(ctx);
      ctx.patch({ FirmwareVersionBefore: before });
    }
    const observed: Observation = { regId: '', token: '', seq: -1 };
    let attempt = ctx.logged(ATTEMPT)?.detail ?? '';
    for (;;) {
      const s = await readFw(ctx, observed);
      if (!attempt) {
        // adopt an attempt this job started before the hub lost track of it (restart, lost answer): the device took
        // our URI and made a new attempt id (a job logged before 'attempt before' existed: a busy device with our URI)
        const prior = ctx.logged(PRIOR)?.detail;
        const ours = ctx.logged(INTENT) !== undefined && s.uri === uri && s.attempt !== '' && (prior !== undefined ? s.attempt !== prior : s.state !== FwState.Idle);
        if (ours) {
          attempt = s.attempt;
          ctx.step(ATTEMPT, attempt);
          continue;
        }
        if (s.state !== FwState.Idle) return { status: 'Failed', message: `the device is busy with another update (State ${FW_STATE_TEXT[s.state]}); cancel it first or retry later` };
        ctx.step(PRIOR, s.attempt);
        ctx.step(INTENT, uri.replace(/\?.*$/, ''));
        // a downgrade is allowed in the same write as the URI (one instance write), so no other writer can slip in
        // between; without it the plain /5/0/1 write means "no downgrade" on every agent version
        const w = ctx.params.allowDowngrade
          ? await ctx.request({ op: 'write', path: '/5/0', value: { [Fw.PackageUri]: uri, [Fw.DowngradeAllowed]: true } })
          : await ctx.request({ op: 'write', path: '/5/0/1', value: uri });
        if (w.code === '5.03') await ctx.wake(2000); // the device is busy or rate-limits writes: ask again later
        else if (w.code !== '2.04') {
          const again = await readFw(ctx, observed);
          if (again.state === FwState.Idle && again.uri !== uri) valueOf(w, 'write the Package URI');
        }
        continue;
      }
      if (s.attempt !== attempt) return { status: 'Failed', message: 'the device started another update attempt; this job lost track of it' };
      switch (s.state) {
        case FwState.Downloading: {
          const p = Math.floor(s.progress * 0.9);
          // while the device retries (server refused, connection lost) its reason is what the operator needs;
          // ctx.patch writes only what changed
          ctx.patch({ Progress: p, StatusMessage: `downloading ${s.progress}%${s.reason ? ` (${s.reason})` : ''}` });
          break;
        }
        case FwState.Downloaded:
          if (!ctx.logged('downloaded')) ctx.step('downloaded');
          ctx.patch({ Progress: 90, StatusMessage: 'downloaded and verified; installing' });
          {
            ctx.step(EXECUTING, ctx.device().regId);
            const x = await ctx.request({ op: 'execute', path: '/5/0/2' });
            if (x.code === '2.04') ctx.step(EXECUTED);
          }
          break;
        case FwState.Updating:
          ctx.patch({ Progress: 95, StatusMessage: 'installing: trial boot of the new firmware, health check, commit' });
          break;
        case FwState.Idle: {
          if (s.result !== UpdateResult.Success) return failed(s);
          const confirmed = await confirmSuccess(ctx, attempt);
          if (confirmed === 'not yet') break; // a notification said more than the device does: follow the device
          if (typeof confirmed !== 'string') return confirmed;
          return { status: 'Completed', message: `updated ${before || '?'} → ${confirmed}`, patch: { UpdateResult: UpdateResult.Success, FirmwareVersionAfter: confirmed, ErrorCode: null } };
        }
      }
      // notifications and re-registrations wake the loop early; the timer is only a safety net
      await ctx.wake(5000);
    }
  },

  async abort(ctx, request) {
    const attempt = ctx.logged(ATTEMPT)?.detail;
    if (!attempt) return 'the device had not accepted the package';
    const r = await request({ op: 'read', path: '/5/0' });
    if (!r || r.code !== '2.05') return 'the device did not answer, so it was not told to cancel';
    const s = view(r.value);
    if (s.attempt !== attempt) return '';
    if (s.state === FwState.Downloading || s.state === FwState.Downloaded) {
      const c = await request({ op: 'execute', path: '/5/0/10' });
      return c?.code === '2.04' ? 'the download was cancelled on the device' : 'the device did not accept Cancel';
    }
    if (s.state === FwState.Updating) return 'the device was installing and cannot be cancelled (LwM2M); it may still finish';
    return '';
  },
};
