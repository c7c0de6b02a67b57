// Object 3 Device (LwM2M 1.2): identity and live values from DeviceInfoSource, firmware version from the
// bootloader's view, time settings from the persisted settings. Pure: everything comes in through deps.

import { Dev, ObjectId } from '../../../protocol/lwm2m.js';
import type { JsonValue } from '../../../protocol/messages.js';
import type { DeviceSnapshot } from '../ports.js';
import { respond, type Action, type LwObject } from './lw-object.js';

export interface DeviceSettings {
  /** IANA time zone name, "" = the system's */
  timezone: string;
  /** ISO 8601 offset such as "+01:00"; "" = derived from the time zone */
  utcOffset: string;
}

export interface DeviceObjectDeps {
  snapshot(): DeviceSnapshot;
  firmwareVersion(): string;
  agentVersion: string;
  settings(): DeviceSettings;
  now(): number;
  /** the platform keeps a factory image (Factory Reset can be executed) */
  canFactoryReset(): boolean;
  newAttemptId(): string;
  /** active faults (Error Code and a readable reason); none when empty */
  faults?(): { code: number; reason: string }[];
}

const OFFSET_RE = /^(?:Z|[+-](?:0\d|1[0-4]):[0-5]\d)$/;

export function isValidTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The UTC offset of `timezone` at `at`, as "+HH:MM". */
export function offsetOf(timezone: string, at: number): string {
  const opts: Intl.DateTimeFormatOptions = { timeZoneName: 'longOffset' };
  if (timezone !== '') opts.timeZone = timezone;
  const part = new Intl.DateTimeFormat('en-US', opts).formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-]\d{2}:\d{2})?/.exec(part);
  return m?.[1] ?? '+00:00';
}

export function deviceObject(deps: DeviceObjectDeps): LwObject {
  return {
    id: ObjectId.Device,
    resources: {
      [Dev.Manufacturer]: 'R',
      [Dev.ModelNumber]: 'R',
      [Dev.SerialNumber]: 'R',
      [Dev.FirmwareVersion]: 'R',
      [Dev.Reboot]: 'E',
      [Dev.FactoryReset]: 'E',
      [Dev.BatteryLevel]: 'R',
      [Dev.MemoryFree]: 'R',
      [Dev.ErrorCode]: 'R',
      [Dev.ErrorReason]: 'R',
      [Dev.CurrentTime]: 'RW',
      [Dev.UtcOffset]: 'RW',
      [Dev.Timezone]: 'RW',
      [Dev.SupportedBindings]: 'R',
      [Dev.DeviceType]: 'R',
      [Dev.HardwareVersion]: 'R',
      [Dev.SoftwareVersion]: 'R',
      [Dev.MemoryTotal]: 'R',
    },
    volatile: new Set([Dev.MemoryFree, Dev.CurrentTime, Dev.BatteryLevel]),
    read() {
      const snap = deps.snapshot();
      const settings = deps.settings();
      const now = deps.now();
      const faults = deps.faults?.() ?? [];
      const values: Record<number, JsonValue> = {
        [Dev.Manufacturer]: snap.manufacturer,
        [Dev.ModelNumber]: snap.model,
        [Dev.SerialNumber]: snap.serial,
        [Dev.FirmwareVersion]: deps.firmwareVersion(),
        [Dev.MemoryFree]: snap.storageFreeKB,
        // Error Code is mandatory and multi-instance: instance 0 = 0 means "no error"; one instance per active error
        [Dev.ErrorCode]: faults.length > 0 ? faults.map((f) => f.code) : [0],
        [Dev.ErrorReason]: faults.length > 0 ? faults.map((f) => f.reason) : [''],
        [Dev.CurrentTime]: Math.floor(now / 1000),
        [Dev.UtcOffset]: settings.utcOffset || offsetOf(settings.timezone, now),
        [Dev.Timezone]: settings.timezone || Intl.DateTimeFormat().resolvedOptions().timeZone,
        // LwM2M 1.2 binding letter for the MQTT transport
        [Dev.SupportedBindings]: 'M',
        [Dev.DeviceType]: snap.deviceType,
        [Dev.HardwareVersion]: snap.hardwareVersion,
        [Dev.SoftwareVersion]: deps.agentVersion,
        [Dev.MemoryTotal]: snap.storageTotalKB,
      };
      if (snap.batteryLevel !== undefined) values[Dev.BatteryLevel] = snap.batteryLevel;
      return values;
    },
    write(resource: number, value: JsonValue): Action {
      // docs/protocol.md, "Current Time": the device keeps its clock with NTP; a clock set over the request topic could
      // make an expired or not-yet-valid TLS certificate pass, and the agent runs without CAP_SYS_TIME
      if (resource === Dev.CurrentTime) return respond('4.05', 'Current Time is not writable: the device keeps its clock with NTP (a clock set from the network could make expired TLS certificates pass)');
      if (typeof value !== 'string') return respond('4.00', 'value must be a string');
      if (resource === Dev.Timezone) {
        if (value !== '' && !isValidTimezone(value)) return respond('4.00', `unknown IANA time zone "${value}"`);
        return { kind: 'settings', patch: { timezone: value } };
      }
      if (value !== '' && !OFFSET_RE.test(value)) return respond('4.00', 'UTC offset must look like +01:00, -05:30 or Z');
      return { kind: 'settings', patch: { utcOffset: value } };
    },
    execute(resource: number): Action {
      if (resource === Dev.Reboot) return { kind: 'reboot' };
      if (!deps.canFactoryReset()) return respond('4.05', 'this platform keeps no factory image: factory reset is not supported');
      return { kind: 'firmware', event: { type: 'factory-reset-executed', attemptId: deps.newAttemptId(), at: deps.now() } };
    },
  };
}
