// Child-job drivers for reboot, factory reset, configuration update, property read and property write.
// Like the firmware driver they resume from the device's state and the persisted job log after a hub restart.

import { CONFIG_RESOURCES, CONFIG_KEYS, CONFIG_REVISION, CONFIG_STATUS, isSecret, type ConfigKey } from '../../../protocol/config-object.js';
import { Fw, FwState, UPDATE_RESULT_TEXT } from '../../../protocol/lwm2m.js';
import type { JsonValue } from '../../../protocol/messages.js';
import { valueOf, type Driver, type DriverContext, type DriverEnd } from '../driver.js';

/** Waits until the device registered again after `regBefore` (it restarted or rebooted). */
async function reRegistered(ctx: DriverContext, regBefore: string): Promise<void> {
  while (!(ctx.device().regId !== '' && ctx.device().regId !== regBefore && ctx.device().online !== false)) await ctx.wake(5000);
}

async function regIdNow(ctx: DriverContext): Promise<string> {
  // a request proves the device is online; its registration is then known from the retained message
  await ctx.request({ op: 'read', path: '/3/0/3' });
  return ctx.device().regId;
}

export const rebootDriver: Driver = {
  async run(ctx) {
    let before = ctx.logged('reboot executed')?.detail;
    // the monotonic clock within this hub run; across a restart only the logged wall time is left (clamped)
    let elapsedMs: () => number;
    if (before === undefined) {
      before = await regIdNow(ctx);
      ctx.step('reboot executed', before);
      const t0 = performance.now();
      elapsedMs = () => performance.now() - t0;
      valueOf(await ctx.request({ op: 'execute', path: '/3/0/4' }), 'execute Reboot');
      ctx.patch({ Progress: 50, StatusMessage: 'rebooting' });
    } else {
      const start = Date.parse(ctx.logged('reboot executed')!.time);
      elapsedMs = () => Math.max(0, ctx.now() - start);
    }
    await reRegistered(ctx, before);
    return { status: 'Completed', message: `rebooted; registered again after ${(elapsedMs() / 1000).toFixed(1)} s` };
  },
};

export const factoryResetDriver: Driver = {
  async run(ctx) {
    if (ctx.job.FirmwareVersionBefore === null) ctx.patch({ FirmwareVersionBefore: String(valueOf(await ctx.request({ op: 'read', path: '/3/0/3' }), 'read the firmware version')) });
    let before = ctx.logged('factory reset executed')?.detail;
    if (before === undefined) {
      before = String(valueOf(await ctx.request({ op: 'read', path: `/5/0/${Fw.AttemptId}` }), 'read the attempt id') ?? '');
      ctx.step('factory reset executed', before);
      valueOf(await ctx.request({ op: 'execute', path: '/3/0/5' }), 'execute Factory Reset');
      ctx.patch({ Progress: 20, StatusMessage: 'restoring the factory image' });
    }
    for (;;) {
      const o = valueOf(await ctx.request({ op: 'read', path: '/5/0' }), 'read /5/0') as Record<string, JsonValue>;
      const state = Number(o[Fw.State]);
      const result = Number(o[Fw.UpdateResult]) as keyof typeof UPDATE_RESULT_TEXT;
      if (String(o[Fw.AttemptId]) !== before && state === FwState.Idle) {
        if (result !== 0) return { status: 'Failed', message: `factory reset failed: ${String(o[Fw.ResultReason] || UPDATE_RESULT_TEXT[result])}`, patch: { UpdateResult: result, ErrorCode: String(o[Fw.ResultCode] || '') || null } };
        const after = String(valueOf(await ctx.request({ op: 'read', path: '/3/0/3' }), 'read the firmware version'));
        return { status: 'Completed', message: `factory reset: firmware ${after}, agent configuration back to defaults`, patch: { FirmwareVersionAfter: after } };
      }
      if (state === FwState.Updating) ctx.patch({ Progress: 60, StatusMessage: 'rebooting into the factory image' });
      await ctx.wake(3000);
    }
  },
};

/** Maps `{ "download.retries": 5 }` to `{ "5": 5 }`; throws for keys the agent does not expose. */
export function configToResources(config: Record<string, JsonValue>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [key, value] of Object.entries(config)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) throw new Error(`"${key}" is not remotely configurable (configurable: ${CONFIG_KEYS.join(', ')})`);
    out[String(CONFIG_RESOURCES[key as ConfigKey].id)] = value;
  }
  return out;
}

export const configurationDriver: Driver = {
  async run(ctx) {
    const config = ctx.params.config ?? {};
    const resources = configToResources(config);
    const revisionNow = async () => Number(valueOf(await ctx.request({ op: 'read', path: `/26241/0/${CONFIG_REVISION}` }), 'read the configuration revision'));
    let before = ctx.logged('configuration written')?.detail;
    if (before === undefined) {
      before = JSON.stringify({ regId: await regIdNow(ctx), revision: await revisionNow() });
      ctx.step('configuration written', before);
      valueOf(await ctx.request({ op: 'write', path: '/26241/0', value: resources }), 'write the configuration');
      ctx.patch({ Progress: 50, StatusMessage: 'configuration accepted; the agent restarts to try it' });
    }
    // logs of older hubs hold the registration id alone
    const was = before.startsWith('{') ? (JSON.parse(before) as { regId: string; revision?: number }) : { regId: before };
    // the agent saves nothing and does not restart for values it already has
    if (was.revision !== undefined && (await revisionNow()) === was.revision && ctx.device().regId === was.regId) {
      return { status: 'Completed', message: `configuration unchanged (revision ${was.revision}): the device already had these values` };
    }
    await reRegistered(ctx, was.regId);
    const now = valueOf(await ctx.request({ op: 'read', path: '/26241/0' }), 'read the configuration back') as Record<string, JsonValue>;
    // the agent keeps a change only once it has connected with it (confirm or revert); its status says what happened
    if (was.revision !== undefined && Number(now[String(CONFIG_REVISION)]) <= was.revision) {
      return { status: 'Failed', message: `the agent did not keep the change: ${String(now[String(CONFIG_STATUS)] ?? 'no reason given')}` };
    }
    const wrong = Object.entries(config).filter(([k, v]) => !isSecret(k as ConfigKey) && JSON.stringify(now[String(CONFIG_RESOURCES[k as ConfigKey].id)]) !== JSON.stringify(v));
    if (wrong.length > 0) return { status: 'Failed', message: `the agent restarted without the new value of ${wrong.map(([k]) => k).join(', ')}` };
    return { status: 'Completed', message: `configuration applied (revision ${String(now[String(CONFIG_REVISION)])}): ${Object.keys(config).join(', ')}` };
  },
};

export const readDriver: Driver = {
  async run(ctx): Promise<DriverEnd> {
    const values: Record<string, JsonValue> = {};
    const failures: string[] = [];
    for (const path of ctx.params.paths ?? []) {
      const r = await ctx.request({ op: 'read', path });
      if (r.code === '2.05') values[path] = r.value ?? null;
      else failures.push(`${path}: ${r.code}${r.reason ? ` ${r.reason}` : ''}`);
    }
    if (failures.length > 0) return { status: 'Failed', message: `could not read ${failures.join('; ')}`, patch: { Values: values } };
    return { status: 'Completed', message: `read ${Object.keys(values).length} value(s)`, patch: { Values: values } };
  },
};

export const writeDriver: Driver = {
  async run(ctx): Promise<DriverEnd> {
    const done: Record<string, JsonValue> = {};
    for (const [path, value] of Object.entries(ctx.params.values ?? {})) {
      const r = await ctx.request({ op: 'write', path, value });
      if (r.code !== '2.04') return { status: 'Failed', message: `write ${path} refused: ${r.code}${r.reason ? ` ${r.reason}` : ''}`, patch: { Values: done } };
      done[path] = value;
    }
    return { status: 'Completed', message: `wrote ${Object.keys(done).length} value(s)`, patch: { Values: done } };
  },
};
