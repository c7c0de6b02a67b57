// Object 5 Firmware Update (LwM2M 1.1): a view of FirmwareState, and writes/executes turned into machine events.
// Pure: the daemon supplies state, clock reading and attempt ids.

import { Fw, ObjectId, ProtocolSupport, DeliveryMethodPull } from '../../../protocol/lwm2m.js';
import type { JsonValue } from '../../../protocol/messages.js';
import { lwm2mState, type FirmwareState } from '../firmware-machine.js';
import { respond, type Action, type LwObject } from './lw-object.js';

/** LwM2M says 255 bytes; signed object-store URLs are longer, so fota accepts up to 2048 (docs/protocol.md). */
export const MAX_URI_LENGTH = 2048;

const DOWNGRADE_WITH_URI = 'Downgrade Allowed (26245) is written together with a Package URI, in one write of /5/0: {"1": "<uri>", "26245": true}';

export interface FirmwareObjectDeps {
  state(): FirmwareState;
  now(): number;
  newAttemptId(): string;
  /** the package URI schemes the configuration allows (`allowedUriSchemes`): resource 8 lists only these */
  allowedSchemes: readonly string[];
}

/** LwM2M 1.1 Object 5 resource 8: "the server MUST NOT send an unsupported scheme", so list what is allowed */
const SCHEME_PROTOCOL: Record<string, number> = { http: ProtocolSupport.Http, https: ProtocolSupport.Https };

/** LwM2M: writing NULL ('\0') to Package resets the state machine like an empty Package URI. In JSON: null, "", "\0". */
const isNullPackage = (v: JsonValue) => v === null || v === '' || v === '\u0000';

export function firmwareObject(deps: FirmwareObjectDeps): LwObject {
  const protocols = [...new Set(deps.allowedSchemes.map((s) => SCHEME_PROTOCOL[s]).filter((p): p is number => p !== undefined))].sort((a, b) => a - b);
  const object: LwObject = {
    id: ObjectId.FirmwareUpdate,
    resources: {
      [Fw.Package]: 'W',
      [Fw.PackageUri]: 'RW',
      [Fw.Update]: 'E',
      [Fw.State]: 'R',
      [Fw.UpdateResult]: 'R',
      [Fw.PkgName]: 'R',
      [Fw.PkgVersion]: 'R',
      [Fw.ProtocolSupport]: 'R',
      [Fw.DeliveryMethod]: 'R',
      [Fw.Cancel]: 'E',
      [Fw.LastStateChangeTime]: 'R',
      [Fw.Progress]: 'R',
      [Fw.ResultReason]: 'R',
      [Fw.ResultCode]: 'R',
      [Fw.AttemptId]: 'R',
      [Fw.DowngradeAllowed]: 'RW',
      [Fw.SecurityFloor]: 'R',
    },
    volatile: new Set(),
    read() {
      const s = deps.state();
      return {
        [Fw.PackageUri]: s.uri,
        [Fw.State]: lwm2mState(s.phase),
        [Fw.UpdateResult]: s.result,
        [Fw.PkgName]: s.pkgName,
        [Fw.PkgVersion]: s.pkgVersion,
        [Fw.ProtocolSupport]: protocols,
        [Fw.DeliveryMethod]: DeliveryMethodPull,
        [Fw.LastStateChangeTime]: Math.floor(s.changedAt / 1000),
        [Fw.Progress]: s.progress,
        [Fw.ResultReason]: s.reason,
        [Fw.ResultCode]: s.errorCode,
        [Fw.AttemptId]: s.attemptId,
        [Fw.DowngradeAllowed]: s.allowDowngrade,
        [Fw.SecurityFloor]: s.floor,
      };
    },
    write(resource: number, value: JsonValue): Action {
      if (resource === Fw.Package) {
        if (isNullPackage(value)) return { kind: 'firmware', event: { type: 'uri-cleared', at: deps.now() } };
        return respond('4.05', 'push delivery is not supported: write a Package URI (pull) instead (writing null to Package resets, as an empty Package URI does)');
      }
      if (resource === Fw.DowngradeAllowed) return respond('4.00', DOWNGRADE_WITH_URI);
      if (typeof value !== 'string') return respond('4.00', 'Package URI must be a string');
      if (value.length > MAX_URI_LENGTH) return respond('4.00', `Package URI is longer than ${MAX_URI_LENGTH} characters`);
      if (/[\u0000-\u001f\u007f]/.test(value)) return respond('4.00', 'Package URI contains control characters');
      // a local file is installed only by `fota-agent install FILE` on the device (agent/local-control.ts), never
      // named remotely: reading a device node or FIFO the hub names could have side effects
      if (/^\s*file:/i.test(value)) return respond('4.00', 'Package URI must be http:// or https://; local files are installed with fota-agent install on the device');
      const at = deps.now();
      if (value === '') return { kind: 'firmware', event: { type: 'uri-cleared', at } };
      return { kind: 'firmware', event: { type: 'uri-written', uri: value, attemptId: deps.newAttemptId(), at } };
    },
    /** {"1": uri, "26245": true}: a Package URI whose attempt may install a lower version (docs/protocol.md) */
    writeInstance(values: Record<number, JsonValue>): Action {
      const keys = Object.keys(values).map(Number);
      const allow = values[Fw.DowngradeAllowed];
      if (!keys.includes(Fw.PackageUri) || keys.some((k) => k !== Fw.PackageUri && k !== Fw.DowngradeAllowed)) return respond('4.00', DOWNGRADE_WITH_URI);
      if (allow !== undefined && typeof allow !== 'boolean') return respond('4.00', 'Downgrade Allowed (26245) must be true or false');
      const action = object.write(Fw.PackageUri, values[Fw.PackageUri] as JsonValue);
      if (action.kind !== 'firmware' || action.event.type !== 'uri-written') return action;
      return { kind: 'firmware', event: { ...action.event, allowDowngrade: allow === true } };
    },
    execute(resource: number): Action {
      const at = deps.now();
      if (resource === Fw.Update) return { kind: 'firmware', event: { type: 'update-executed', at } };
      return { kind: 'firmware', event: { type: 'cancel-executed', at } };
    },
  };
  return object;
}
