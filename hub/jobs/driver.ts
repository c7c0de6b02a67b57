// The contract between the job service and the per-type child-job drivers. A driver moves one device through
// its LwM2M steps by looking at the device's state (so it can be resumed after a hub restart: it re-reads the
// device, and its own earlier steps from the persisted job log), and returns the child's end.

import { isSuccess, CODE_TEXT } from '../../protocol/lwm2m.js';
import type { JsonValue, Response } from '../../protocol/messages.js';
import type { DeviceView } from './device-directory.js';
import type { JobLogEntry, JobParameters, JobPatch, JobRecord } from './job-model.js';

export type RequestBody =
  | { op: 'read'; path: string }
  | { op: 'write'; path: string; value: JsonValue }
  | { op: 'execute'; path: string; args?: string }
  | { op: 'observe'; path: string };

export interface DriverContext {
  readonly deviceId: string;
  readonly params: JobParameters;
  /** the child record as it was when the driver (re)started */
  readonly job: JobRecord;
  /** aborted on cancel ('cancelled') or timeout ('timeout'); every wait rejects then */
  readonly signal: AbortSignal;
  device(): DeviceView;
  /** Sends a request once the device is online; retries a lost answer until the signal aborts. */
  request(body: RequestBody): Promise<Response>;
  /** Waits for the next event of the device (registration, presence, notification) or `ms`; returns at once when one came since the previous wake (while the driver was busy). */
  wake(ms: number): Promise<void>;
  /** Persists result fields / progress / a status message of the child. */
  patch(p: JobPatch): void;
  /** Appends a step to the child's persisted log (and returns it for later resumption). */
  step(step: string, detail?: string): void;
  /** The latest logged entry of `step`, from this run or an earlier hub run. */
  logged(step: string): JobLogEntry | undefined;
  now(): number;
}

export interface DriverEnd {
  status: 'Completed' | 'Failed';
  message: string;
  patch?: JobPatch;
}

export interface Driver {
  run(ctx: DriverContext): Promise<DriverEnd>;
  /**
   * Called after `signal` aborted (timeout or cancel) with the same context (its signal is aborted: use
   * `cleanupRequest`): cancel on the device where LwM2M allows it. Returns a note for the status message.
   */
  abort?(ctx: DriverContext, cleanupRequest: (body: RequestBody) => Promise<Response | undefined>): Promise<string>;
}

/** Thrown by drivers for a device answer that ends the child as Failed. */
export class DeviceRefused extends Error {
  constructor(
    readonly response: Response,
    what: string,
  ) {
    super(`${what}: ${response.code} ${CODE_TEXT[response.code] ?? ''}${response.reason ? ` — ${response.reason}` : ''}`);
  }
}

/** The value of a 2.xx answer; throws DeviceRefused otherwise. */
export function valueOf(res: Response, what: string): JsonValue | undefined {
  if (!isSuccess(res.code)) throw new DeviceRefused(res, what);
  return res.value;
}
