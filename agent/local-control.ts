// The device-local commands, run by whoever holds the state directory (the agent daemon, or a `fota-agent install`
// running alone): install a package from a file or URL, update, cancel, mark the trial good or bad, report status.
// Each command is a machine event dispatched into the same daemon as the hub's requests, so a local install takes the
// verified over-the-air path (signature, device type, SHA-256, trial boot, health check, commit or rollback).
//
// INVARIANTS
// - Commands only dispatch events; the daemon's serial queue orders them with the hub's requests: never two writers.
// - A client that goes away stops being told, never stops the work (the install goes on; `cancel` stops it).

import { UpdateResult } from '../protocol/lwm2m.js';
import { collectStatus, type StatusSources } from './agent-status.js';
import type { ControlHandler } from './adapters/control-socket.js';
import type { Daemon } from './core/daemon.js';
import { stateKey, type FirmwareEvent, type FirmwareState } from './core/firmware-machine.js';
import type { PlatformAdapter } from './core/ports.js';

export type LocalRequest =
  | { op: 'status' }
  | { op: 'install'; uri: string; reboot?: boolean }
  | { op: 'update' }
  | { op: 'cancel' }
  | { op: 'mark'; good: boolean };

/** Messages streamed back: state changes while the command runs, then one `done`. */
export type LocalMessage =
  | { type: 'status'; status: Awaited<ReturnType<typeof collectStatus>> }
  | { type: 'state'; state: string; percent: number }
  | { type: 'done'; ok: boolean; message: string; next?: string };

export interface LocalControlDeps {
  daemon: Daemon;
  platform: PlatformAdapter;
  now(): number;
  newId(): string;
  status: Omit<StatusSources, 'firmware' | 'platform'>;
}

type Verdict = { ok: boolean; message: string; next?: string } | undefined;

function isRequest(r: unknown): r is LocalRequest {
  const o = r as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null) return false;
  if (o.op === 'install') return typeof o.uri === 'string' && o.uri.length > 0 && o.uri.length <= 4096;
  if (o.op === 'mark') return typeof o.good === 'boolean';
  return o.op === 'status' || o.op === 'update' || o.op === 'cancel';
}

export function localControl(deps: LocalControlDeps): ControlHandler {
  const { daemon } = deps;

  /**
   * Dispatches `event` and streams the states it leads to until `judge` gives a verdict (or the client leaves).
   * A rejected event is the verdict itself.
   */
  async function drive(event: FirmwareEvent, judge: (s: FirmwareState) => Verdict, send: (m: LocalMessage) => void, signal: AbortSignal): Promise<void> {
    let last = '';
    let settle: (v: Verdict) => void = () => undefined;
    const ended = new Promise<Verdict>((resolve) => (settle = resolve));
    const see = (s: FirmwareState) => {
      const key = `${stateKey(s)} ${s.progress}`;
      if (key !== last) send({ type: 'state', state: stateKey(s), percent: s.progress });
      last = key;
      const v = judge(s);
      if (v) settle(v);
    };
    const unwatch = daemon.watch(see);
    const onGone = () => settle(undefined);
    signal.addEventListener('abort', onGone, { once: true });
    try {
      const out = await daemon.dispatch(event);
      if (out.rejected) return send({ type: 'done', ok: false, message: out.rejected.reason, ...hintFor(daemon.firmware) });
      const v = await ended;
      if (v) send({ type: 'done', ...v });
    } finally {
      unwatch();
      signal.removeEventListener('abort', onGone);
    }
  }

  const failed = (s: FirmwareState): Verdict => ({ ok: false, message: `${s.reason || 'failed'} (Update Result ${s.result})` });

  async function update(send: (m: LocalMessage) => void, signal: AbortSignal): Promise<void> {
    const from = daemon.firmware;
    await drive(
      { type: 'update-executed', at: deps.now() },
      (s) =>
        s.phase === 'updating' && s.step === 'rebooting'
          ? { ok: true, message: `slot ${s.target ?? '?'} (${[s.pkgName, s.pkgVersion].filter(Boolean).join(' ')}) is armed for one trial boot; the device reboots now. After the boot the agent checks its health and commits it, or the bootloader falls back to slot ${s.from ?? '?'}.` }
          : s.phase === 'idle' && s.attemptId === from.attemptId
            ? failed(s)
            : undefined,
      send,
      signal,
    );
  }

  return async (request, rawSend, signal) => {
    const send = rawSend as (m: LocalMessage) => void;
    if (!isRequest(request)) return send({ type: 'done', ok: false, message: 'unknown request' });
    switch (request.op) {
      case 'status': {
        const status = await collectStatus({ ...deps.status, platform: deps.platform, firmware: daemon.firmware });
        return send({ type: 'status', status });
      }
      case 'install': {
        const attemptId = deps.newId();
        let downloaded = false;
        await drive(
          { type: 'uri-written', uri: request.uri, attemptId, at: deps.now() },
          (s) => {
            if (s.attemptId !== attemptId) return undefined;
            if (s.phase === 'downloaded') {
              downloaded = true;
              return { ok: true, message: `${[s.pkgName, s.pkgVersion].filter(Boolean).join(' ')} is verified and written to the inactive slot`, ...(request.reboot ? {} : { next: 'fota-agent update   (reboots into it for a trial; or fota-agent cancel to drop it)' }) };
            }
            return s.phase === 'idle' ? failed(s) : undefined;
          },
          (m) => (m.type === 'done' && m.ok && request.reboot ? undefined : send(m)),
          signal,
        );
        if (downloaded && request.reboot && !signal.aborted) await update(send, signal);
        return;
      }
      case 'update':
        return update(send, signal);
      case 'cancel': {
        const from = daemon.firmware;
        return drive({ type: 'cancel-executed', at: deps.now() }, (s) => (s.phase === 'idle' && s.attemptId === from.attemptId ? { ok: true, message: `cancelled: ${s.reason || 'back to Idle'}` } : undefined), send, signal);
      }
      case 'mark': {
        const s0 = daemon.firmware;
        if (stateKey(s0) !== 'updating:verifying') {
          const boot = await deps.platform.bootStatus().catch(() => undefined);
          const what = boot && !boot.trial ? `slot ${boot.booted} is committed, not on trial` : `the agent is ${stateKey(s0)}`;
          return send({ type: 'done', ok: false, message: `nothing to mark: ${what} (mark-good and mark-bad apply while new firmware runs its trial, State Updating, after its reboot)` });
        }
        if (request.good)
          return drive(
            { type: 'health-passed', at: deps.now() },
            (s) => (s.phase !== 'idle' ? undefined : s.result === UpdateResult.Success ? { ok: true, message: `committed: slot ${s0.target ?? '?'} (${s.pkgVersion || 'new firmware'}) is now the default` } : failed(s)),
            send,
            signal,
          );
        return drive(
          { type: 'health-failed', reason: 'marked bad by hand (fota-agent mark-bad)', at: deps.now() },
          (s) => (s.phase === 'updating' && s.step === 'reverting' ? { ok: true, message: `the trial of slot ${s.target ?? '?'} is given up; the device reboots into slot ${s.from ?? '?'}` } : s.phase === 'idle' ? failed(s) : undefined),
          send,
          signal,
        );
      }
    }
  };
}

/** The next step after a refused command, by the state that refused it. */
function hintFor(s: FirmwareState): { next?: string } {
  if (s.phase === 'downloading') return { next: 'fota-agent cancel   (stops the download under way)' };
  if (s.phase === 'downloaded') return { next: 'fota-agent update   (installs the downloaded package), or fota-agent cancel' };
  return {};
}
