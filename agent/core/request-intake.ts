// Request intake: everything between a parsed hub request and the daemon acting on it. Admission (a bounded number
// in progress, a rate per kind), one act per request id (request-log.ts), answers to what the transport refused
// (malformed, retained), and a log that summarises floods instead of mirroring them. Pure: ports only.
//
// INVARIANTS
// - A write or execute is acted on only after its id is recorded (durably when the store works): the handler calls
//   `record()` right before its first side effect, and only then (a refused or no-op request costs no save).
// - A second request with an id still in progress gets the first one's answer when it comes; it is not handled.
// - Refusals (5.03 busy or rate limited, 4.00 malformed or retained) never run a handler and are answered at a
//   bounded rate; the log gets at most one refusal summary per REFUSAL_LOG_MS.

import { Code, type CodeValue } from '../../protocol/lwm2m.js';
import type { Request, Response } from '../../protocol/messages.js';
import type { Logger } from './ports.js';
import type { RequestAdmission } from './request-admission.js';
import type { RequestLog } from './request-log.js';

const REFUSAL_LOG_MS = 10_000;

export interface RequestIntakeDeps {
  log: RequestLog;
  admission: RequestAdmission;
  now(): number;
  logger: Logger;
  respond(res: Response): void;
  /** handles an admitted request, calling `record()` before acting on a write or execute; throwing answers 5.00 */
  handle(req: Request, record: () => Promise<void>): Promise<Response>;
}

export class RequestIntake {
  private readonly inProgress = new Map<string, Promise<Response>>();
  private refusedSinceLog = 0;
  private lastRefusalLog = -Infinity;
  private unrecorded = false;

  constructor(private readonly deps: RequestIntakeDeps) {}

  async submit(req: Request): Promise<void> {
    const { deps } = this;
    const running = this.inProgress.get(req.id);
    if (running) {
      deps.respond(await running);
      return;
    }
    const acts = req.op === 'write' || req.op === 'execute';
    if (acts && deps.log.has(req.id)) {
      deps.logger.info('request already received; answered again, not acted on again', { id: req.id, op: req.op, path: req.path });
      deps.respond(deps.log.repeat(req.id));
      return;
    }
    const admission = deps.admission.admit(req, deps.now());
    if (!admission.ok) return this.refused({ id: req.id, reason: admission.reason }, Code.ServiceUnavailable);
    const work = this.run(req);
    this.inProgress.set(req.id, work);
    try {
      const res = await work;
      if (acts) deps.log.answered(res);
      deps.respond(res);
    } finally {
      this.inProgress.delete(req.id);
      admission.done();
    }
  }

  /** A request the transport could not accept (malformed, retained): answered when it has an id, rate permitting. */
  refused(r: { id?: string; reason: string }, code: CodeValue = Code.BadRequest): void {
    const now = this.deps.now();
    if (r.id !== undefined && this.deps.admission.answerRefusal(now)) this.deps.respond({ id: r.id, code, reason: r.reason });
    this.refusedSinceLog++;
    if (now - this.lastRefusalLog >= REFUSAL_LOG_MS) {
      this.deps.logger.warn('requests refused', { count: this.refusedSinceLog, last: r.reason, code });
      this.refusedSinceLog = 0;
      this.lastRefusalLog = now;
    }
  }

  private async run(req: Request): Promise<Response> {
    try {
      return await this.deps.handle(req, () => this.record(req.id));
    } catch (e) {
      this.deps.logger.error('request failed', { op: req.op, path: req.path, error: String(e) });
      return { id: req.id, code: Code.InternalError, reason: 'internal error; see the agent log' };
    }
  }

  private async record(id: string): Promise<void> {
    try {
      await this.deps.log.remember(id);
      this.unrecorded = false;
    } catch (e) {
      // a read-only or full state folder must not make the device unmanageable (a Reboot must still work): act,
      // and remember the id for this run only
      if (!this.unrecorded) this.deps.logger.error('could not record a request id; replays after a restart are not recognised until this is fixed', { error: String(e) });
      this.unrecorded = true;
    }
  }
}
