// Firmware-update child job: write Package URI → Downloaded (progress) → execute Update → the device reboots,
// checks its health, commits → Idle + Update Result 1 with the new version. State-driven: every loop re-reads
// Object 5, so a hub restart (or a lost answer) resumes from what the device says, not from memory.

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
  /** Last State Change Time, ms */
  changed: number;
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
    changed: n(Fw.LastStateChangeTime) * 1000,
  };
}

const INTENT = 'writing package uri';
const ATTEMPT = 'attempt';
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
    let lastProgress = -1;
    for (;;) {
      const s = await readFw(ctx, observed);
      if (!attempt) {
        const intent = ctx.logged(INTENT);
        // adopt an attempt this job started before the hub lost track of it (restart, lost answer)
        const ours = intent !== undefined && s.uri === uri && s.attempt !== '' && (s.state !== FwState.Idle || s.changed >= Date.parse(intent.time) - 1000);
        if (ours) {
          attempt = s.attempt;
          ctx.step(ATTEMPT, attempt);
          continue;
        }
        if (s.state !== FwState.Idle) return { status: 'Failed', message: `the device is busy with another update (State ${FW_STATE_TEXT[s.state]}); cancel it first or retry later` };
        ctx.step(INTENT, uri.replace(/\?.*$/, ''));
        const w = await ctx.request({ op: 'write', path: '/5/0/1', value: uri });
        if (w.code !== '2.04') {
          const again = await readFw(ctx, observed);
          if (again.state === FwState.Idle && again.uri !== uri) valueOf(w, 'write the Package URI');
        }
        continue;
      }
      if (s.attempt !== attempt) return { status: 'Failed', message: 'the device started another update attempt; this job lost track of it' };
      switch (s.state) {
        case FwState.Downloading: {
          const p = Math.floor(s.progress * 0.9);
          if (p !== lastProgress) ctx.patch({ Progress: p, StatusMessage: `downloading ${s.progress}%` });
          lastProgress = p;
          break;
        }
        case FwState.Downloaded:
          if (!ctx.logged('downloaded')) ctx.step('downloaded');
          ctx.patch({ Progress: 90, StatusMessage: 'downloaded and verified; installing' });
          {
            const x = await ctx.request({ op: 'execute', path: '/5/0/2' });
            if (x.code === '2.04') ctx.step(EXECUTED);
          }
          break;
        case FwState.Updating:
          ctx.patch({ Progress: 95, StatusMessage: 'installing: trial boot of the new firmware, health check, commit' });
          break;
        case FwState.Idle: {
          if (s.result !== UpdateResult.Success) return failed(s);
          const after = await version(ctx);
          return { status: 'Completed', message: `updated ${before || '?'} → ${after}`, patch: { UpdateResult: UpdateResult.Success, FirmwareVersionAfter: after, ErrorCode: null } };
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
