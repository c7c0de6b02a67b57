// The simulated U-Boot: one boot = the boot script of ab-scheme.ts applied to the stored environment (bootcount,
// bootlimit, altbootcmd, saveenv), then the chosen slot's image header is "loaded". The result is recorded in
// DIR/run/boot.json, the simulated /proc/cmdline the agent reads its booted slot from.

import { readFile } from 'node:fs/promises';
import { runBootScript, type BootDecision } from '../uboot/ab-scheme.js';
import { BootEnvError, type BootEnv } from '../uboot/boot-env.js';
import { simBootEnv, simPaths, writeJsonAtomic } from './device-dir.js';
import { readSimImageHeader } from './image-header.js';

export interface SimBootRecord {
  /** boot number since the device folder was created (1 = first boot) */
  seq: number;
  slot: 'A' | 'B';
  trial: boolean;
  /** trial attempt number during a trial (bootcount after the increment) */
  bootcount: number;
  bootlimit: number;
  /** altbootcmd ran this boot: the trial slot used up its attempts */
  fellBack: boolean;
  /** firmware version in the booted slot's image header ("" when the slot holds no image) */
  version: string;
  /** the image never reaches the agent (a broken image, or no image at all) */
  broken: boolean;
  /** why a boot is broken, for the log */
  brokenReason: string;
  /** the environment had no valid copy: U-Boot used its defaults (slot A) and saved nothing */
  envDefaults: boolean;
  /** ISO 8601 */
  bootedAt: string;
}

/**
 * Runs the boot script once over any BootEnv: reads it (a bad CRC means built-in defaults), decides, and saves
 * what saveenv would save in one write. Throws BootEnvError for I/O failures other than a bad CRC.
 */
export async function simulateBoot(env: BootEnv): Promise<BootDecision & { envDefaults: boolean }> {
  let vars: Record<string, string> | undefined;
  try {
    vars = await env.read();
  } catch (e) {
    if (!(e instanceof BootEnvError && e.reason === 'bad-crc')) throw e;
    vars = undefined;
  }
  const decision = runBootScript(vars);
  if (decision.save) await env.write(decision.save);
  return { ...decision, envDefaults: vars === undefined };
}

/** Reads DIR/run/boot.json. Throws an Error saying the device was not booted by the simulator when it is missing. */
export async function readBootRecord(dir: string): Promise<SimBootRecord> {
  const file = simPaths(dir).bootRecord;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as SimBootRecord;
  } catch (e) {
    throw new Error(`${file} is missing or unreadable (${(e as Error).message}): the simulated device was not booted; start it with fota sim run`, { cause: e });
  }
}

/** One power-on of the simulated device in `dir`: boot script, image header, boot record. */
export async function bootOnce(dir: string): Promise<SimBootRecord> {
  const paths = simPaths(dir);
  const previous = await readBootRecord(dir).catch(() => undefined);
  const decision = await simulateBoot(simBootEnv(dir));
  let version = '';
  let broken = false;
  let brokenReason = '';
  try {
    const header = await readSimImageHeader(paths.slots[decision.slot]);
    version = header.version;
    broken = header.broken;
    if (broken) brokenReason = `firmware ${version} is a broken image: the kernel never reaches the agent`;
  } catch (e) {
    broken = true;
    brokenReason = `slot ${decision.slot} holds no bootable image (${(e as Error).message})`;
  }
  const record: SimBootRecord = {
    seq: (previous?.seq ?? 0) + 1,
    slot: decision.slot,
    trial: decision.trial,
    bootcount: decision.bootcount,
    bootlimit: decision.bootlimit,
    fellBack: decision.fellBack,
    version,
    broken,
    brokenReason,
    envDefaults: decision.envDefaults,
    bootedAt: new Date().toISOString(),
  };
  await writeJsonAtomic(paths.bootRecord, record);
  return record;
}

/** One log line per boot: "boot: slot B (trial 1/3), firmware 3.0.0". */
export function describeBoot(r: SimBootRecord): string {
  const notes: string[] = [];
  if (r.trial) notes.push(`trial ${r.bootcount}/${r.bootlimit}`);
  if (r.fellBack) notes.push(`fell back: the other slot used up its ${r.bootlimit} trial boots`);
  if (r.envDefaults) notes.push('environment unreadable, U-Boot defaults');
  const firmware = r.version ? `firmware ${r.version}` : 'no firmware';
  return `boot: slot ${r.slot}${notes.length ? ` (${notes.join('; ')})` : ''}, ${firmware}${r.broken ? ` — ${r.brokenReason}` : ''}`;
}
