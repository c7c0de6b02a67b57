// What `fota-agent status` reports, gathered from the platform (boot status, bootloader variables, slot versions)
// and the firmware state (live from a running agent, or the saved document when none runs), and its text form.
// Read-only: it never writes the state or the bootloader environment.

import { FW_STATE_TEXT, UPDATE_RESULT_TEXT } from '../protocol/lwm2m.js';
import { redactUrl } from '../protocol/redact.js';
import { lwm2mState, type FirmwareState } from './core/firmware-machine.js';
import type { PlatformAdapter, SlotName } from './core/ports.js';

export interface AgentStatus {
  deviceId: string;
  agentVersion: string;
  platform: string;
  stateDir: string;
  /** the process that holds the state directory, if any */
  agent: { running: boolean; pid?: number; role?: string; since?: string };
  boot: { booted: SlotName; trial: boolean; pending: SlotName | null; firmwareVersion: string } | { error: string };
  /** firmware version in each slot, where known */
  slots: Partial<Record<SlotName, string>>;
  bootloader: Record<string, string> | { error: string };
  firmware: {
    state: number;
    stateName: string;
    step: string | null;
    result: number;
    resultText: string;
    reason: string;
    errorCode: string;
    pkgName: string;
    pkgVersion: string;
    progress: number;
    uri: string;
    changedAt: string | null;
  };
  trustedKeys: string[];
  allowUnsigned: boolean;
}

export interface StatusSources {
  deviceId: string;
  agentVersion: string;
  stateDir: string;
  platform: PlatformAdapter;
  firmware: FirmwareState;
  trustedKeyIds: string[];
  allowUnsigned: boolean;
  agent: AgentStatus['agent'];
}

const message = (e: unknown) => (e as Error).message ?? String(e);

export async function collectStatus(src: StatusSources): Promise<AgentStatus> {
  const f = src.firmware;
  const boot = await src.platform.bootStatus().then(
    (b) => ({ booted: b.booted, trial: b.trial, pending: b.pending, firmwareVersion: b.firmwareVersion }),
    (e: unknown) => ({ error: message(e) }),
  );
  const described = src.platform.describe ? await src.platform.describe().catch((e: unknown) => ({ error: message(e) })) : undefined;
  const slots: AgentStatus['slots'] = described && 'slotVersions' in described ? { ...described.slotVersions } : {};
  if ('booted' in boot && !slots[boot.booted] && boot.firmwareVersion) slots[boot.booted] = boot.firmwareVersion;
  const state = lwm2mState(f.phase);
  return {
    deviceId: src.deviceId,
    agentVersion: src.agentVersion,
    platform: src.platform.name,
    stateDir: src.stateDir,
    agent: src.agent,
    boot,
    slots,
    bootloader: described === undefined ? {} : 'error' in described ? described : described.bootloader,
    firmware: {
      state,
      stateName: FW_STATE_TEXT[state],
      step: f.phase === 'updating' ? f.step : null,
      result: f.result,
      resultText: UPDATE_RESULT_TEXT[f.result],
      reason: f.reason,
      errorCode: f.errorCode,
      pkgName: f.pkgName,
      pkgVersion: f.pkgVersion,
      progress: f.progress,
      uri: f.uri ? (f.uri.startsWith('file:') ? f.uri : redactUrl(f.uri)) : '',
      changedAt: f.changedAt ? new Date(f.changedAt).toISOString() : null,
    },
    trustedKeys: src.trustedKeyIds,
    allowUnsigned: src.allowUnsigned,
  };
}

/** The text form: one fact per line, the most asked first (which slot runs, is it committed, what happened last). */
export function formatStatus(s: AgentStatus): string {
  const lines: string[] = [];
  const pad = (k: string) => `${k}:`.padEnd(14);
  lines.push(`${pad('device')}${s.deviceId} (agent ${s.agentVersion}, platform ${s.platform})`);
  lines.push(`${pad('agent')}${s.agent.running ? `running (pid ${s.agent.pid ?? '?'}${s.agent.role && s.agent.role !== 'agent' ? `, ${s.agent.role}` : ''})` : 'not running'}`);
  if ('error' in s.boot) lines.push(`${pad('booted')}unknown: ${s.boot.error}`);
  else {
    const b = s.boot;
    lines.push(`${pad('booted')}slot ${b.booted}, ${b.trial ? 'TRIAL (not committed: fota-agent mark-good / mark-bad)' : 'committed'}${b.pending ? `; slot ${b.pending} armed for the next boot` : ''}`);
  }
  for (const slot of ['A', 'B'] as const) {
    const v = s.slots[slot];
    const booted = !('error' in s.boot) && s.boot.booted === slot;
    lines.push(`${pad(`slot ${slot}`)}${v ? `firmware ${v}` : 'firmware unknown'}${booted ? ' (booted)' : ''}`);
  }
  const vars = s.bootloader;
  if ('error' in vars) lines.push(`${pad('bootloader')}unreadable: ${String(vars['error'])}`);
  else if (Object.keys(vars).length > 0) lines.push(`${pad('bootloader')}${Object.entries(vars).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const f = s.firmware;
  const step = f.step ? ` (${f.step})` : '';
  const progress = f.state === 1 ? `, ${f.progress}%` : '';
  const pkg = f.pkgName || f.pkgVersion ? `, package ${[f.pkgName, f.pkgVersion].filter(Boolean).join(' ')}` : '';
  lines.push(`${pad('update state')}${f.stateName} (${f.state})${step}${progress}${pkg}`);
  lines.push(`${pad('last result')}${f.result} ${f.resultText}${f.reason ? `: ${f.reason}` : ''}`);
  if (f.uri) lines.push(`${pad('package uri')}${f.uri}`);
  if (f.changedAt) lines.push(`${pad('changed')}${f.changedAt}`);
  lines.push(`${pad('trusted keys')}${s.trustedKeys.length > 0 ? s.trustedKeys.join(', ') : 'none'}${s.allowUnsigned ? ' (unsigned packages allowed)' : ''}`);
  return lines.join('\n');
}
