// Transport port that never connects: for `fota-agent install|update|cancel|mark-*` run while no agent is running.
// The command drives the daemon through the same machine and effects as the hub would, with no broker at all.

import type { Transport, TransportHandlers } from '../core/ports.js';

export class OfflineTransport implements Transport {
  readonly connected = false;

  async start(_handlers: TransportHandlers): Promise<void> {}
  respond(): void {}
  notify(): void {}
  register(): void {}
  async flush(): Promise<void> {}
  async stop(): Promise<void> {}
}
