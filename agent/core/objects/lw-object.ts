// The shape of an LwM2M object served by the agent, and what a request on it asks the daemon to do.
// Pure: objects read from state handed to them; writes and executes return an Action, they change nothing.

import type { CodeValue } from '../../../protocol/lwm2m.js';
import type { JsonValue } from '../../../protocol/messages.js';
import type { FirmwareEvent } from '../firmware-machine.js';

/** Operations a resource allows (LwM2M object definitions: R, W, RW, E). */
export type ResourceOps = 'R' | 'W' | 'RW' | 'E';

/** What a write or execute asks for. The daemon carries it out and answers the request from the outcome. */
export type Action =
  | { kind: 'respond'; code: CodeValue; reason?: string }
  | { kind: 'firmware'; event: FirmwareEvent }
  | { kind: 'reboot' }
  | { kind: 'settings'; patch: { timezone?: string; utcOffset?: string } }
  | { kind: 'config'; patch: Record<string, JsonValue> };

export interface LwObject {
  readonly id: number;
  /** resource id → allowed operations; anything else answers 4.04 */
  readonly resources: Readonly<Record<number, ResourceOps>>;
  /** resources whose value changes by itself (time, free memory): left out of change notifications */
  readonly volatile: ReadonlySet<number>;
  /** current values of the readable resources of instance 0 */
  read(): Record<number, JsonValue>;
  write(resource: number, value: JsonValue): Action;
  /** a write of several resources of instance 0 at once (LwM2M partial update), when the object supports it */
  writeInstance?(values: Record<number, JsonValue>): Action;
  execute(resource: number, args: string | undefined): Action;
}

export const respond = (code: CodeValue, reason?: string): Action => (reason === undefined ? { kind: 'respond', code } : { kind: 'respond', code, reason });
