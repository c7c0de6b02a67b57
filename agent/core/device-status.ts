// What a status LED shows, from the firmware state: one word per situation the person at the device cares about.
// Pure: no IO.

import { UpdateResult } from '../../protocol/lwm2m.js';
import type { FirmwareState } from './firmware-machine.js';

export type DeviceStatus = 'idle' | 'downloading' | 'updating' | 'error';

/** idle (nothing going on, or a package waits for Update), downloading, updating, or error (the last attempt failed). */
export function deviceStatus(s: FirmwareState): DeviceStatus {
  if (s.phase === 'downloading') return 'downloading';
  if (s.phase === 'updating') return 'updating';
  const failed = s.phase === 'idle' && s.result !== UpdateResult.Initial && s.result !== UpdateResult.Success && s.result !== UpdateResult.Cancelled;
  return failed ? 'error' : 'idle';
}
