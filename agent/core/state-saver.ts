// Saving the agent's document, and the fault a failed save leaves (issue 10 #4, #5): a full or read-only state
// folder. Saves resolve with the error instead of throwing, so the daemon can keep memory and file in step; the fault
// is reported as Object 3 Error Code 16 with a readable reason until a save works again. Ports only (no node:*).

import { DeviceError } from '../../protocol/lwm2m.js';
import { toFotaError, type FotaError } from './errors.js';
import type { Logger, Store } from './ports.js';

export interface DeviceFault {
  /** Object 3 Error Code (LwM2M: 16–32 are device-specific) */
  code: number;
  reason: string;
}

export class StateSaver {
  private fault: DeviceFault | undefined;
  /** saves tried so far (successful or not) */
  attempts = 0;

  constructor(
    private readonly store: Store<unknown>,
    private readonly logger: Logger,
  ) {}

  /** the device faults to report (Object 3 Error Code); empty when the last save worked */
  faults(): DeviceFault[] {
    return this.fault ? [this.fault] : [];
  }

  /** Saves `doc`; undefined when it is durable, else the error (the file keeps the previous document). */
  async save(doc: unknown): Promise<FotaError | undefined> {
    return this.attempt(() => this.store.save(doc), true);
  }

  /** Saves a document that records a failure, with the store's reserve when it keeps one (FileStore). */
  async saveFailure(doc: unknown): Promise<FotaError | undefined> {
    // saved from the reserve, the folder is still full: the fault stands until a plain save works
    const err = await this.attempt(() => (this.store.saveFailure ? this.store.saveFailure(doc) : this.store.save(doc)), false);
    if (err) this.logger.error('the state kept in memory could not be saved either: after a restart the agent resumes from the last state saved', { error: err.message });
    return err;
  }

  /** why saves fail, for messages: "the agent could not save its state in FILE (…)" */
  describe(err: FotaError): string {
    return `the agent could not save its state${this.store.where ? ` in ${this.store.where}` : ''} (${err.message})`;
  }

  private async attempt(save: () => Promise<void>, clears: boolean): Promise<FotaError | undefined> {
    this.attempts++;
    try {
      await save();
      if (clears && this.fault) {
        this.logger.info('state saved again; the storage fault is cleared');
        this.fault = undefined;
      }
      return undefined;
    } catch (e) {
      const err = toFotaError(e);
      if (!this.fault) this.logger.error('could not save the agent state', { where: this.store.where, error: err.message, code: err.code });
      this.fault = { code: DeviceError.StateNotSaved, reason: `${this.describe(err)}; free space or make the folder writable (the agent retries)` };
      return err;
    }
  }
}
