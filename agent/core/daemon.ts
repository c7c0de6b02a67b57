// The agent daemon: transition → save → report → run effects → turn outcomes into events.
// Imports ports only (no node:*, no adapters). See docs/architecture.md.
//
// INVARIANTS
// - Every state change goes through `apply`, which runs inside the serial queue: one event at a time.
// - The new state is saved before memory takes it and before its effects start, so a power cut at any instant
//   resumes from a named point, and memory is never ahead of the file. A save that fails refuses a request (5.00)
//   or ends the attempt (state-save-failed); only a failure that cannot be saved either lives in memory alone.
// - At most one download/flash task runs; a new one waits for the previous to settle (both write the inactive slot).
// - Events produced by a task carry its attemptId; the machine ignores events of an attempt that is no longer current.
// - After a reboot has been requested no further effect starts.

import { parsePath } from '../../protocol/paths.js';
import type { JsonValue, Request, Response } from '../../protocol/messages.js';
import { FotaError, toFotaError } from './errors.js';
import { downloadTask, factoryFlashTask, healthCheckTask, type TaskEnv } from './tasks.js';
import { stateKey, transition, type Effect, type FirmwareEvent, type FirmwareState, type Outcome } from './firmware-machine.js';
import { Model } from './model.js';
import { deviceObject } from './objects/device-object.js';
import { firmwareObject } from './objects/firmware-object.js';
import { Observations } from './observations.js';
import type { BootStatus, Clock, ConfigPort, DeviceInfoSource, Downloader, HealthProbe, Logger, PlatformAdapter, Store, Transport } from './ports.js';
import { configObject } from './objects/config-object.js';
import { initialDocument, restoreDocument, type AgentDocument } from './state-document.js';
import { otherSlot } from './ports.js';
import { act, changesSomething, confirmOrRevert, type ActionHost } from './request-actions.js';
import { RequestAdmission } from './request-admission.js';
import { RequestIntake } from './request-intake.js';
import { RequestLog } from './request-log.js';
import { StateSaver } from './state-saver.js';

/** events that come from a request (the hub's or a local command): a failed save refuses them, answered 5.00 */
const REQUESTS: ReadonlySet<FirmwareEvent['type']> = new Set(['uri-written', 'uri-cleared', 'cancel-executed', 'update-executed', 'factory-reset-executed']);

export interface DaemonOptions {
  deviceId: string;
  agentVersion: string;
  /** registration lifetime in seconds; an Update is sent every lifetime/2 */
  lifetimeSec: number;
  /** minimum interval between two progress notifications */
  progressIntervalMs: number;
  /** how long a freshly booted trial may take to reach the broker before the health check fails */
  healthConnectTimeoutMs: number;
  /** package URI schemes the configuration allows (Object 5 resource 8 lists them); default http and https */
  allowedUriSchemes?: readonly string[];
  /** a trial is committed only by `fota-agent mark-good` (health checked elsewhere); the agent's own checks may still fail it */
  manualCommit?: boolean;
  /** the configured security floor (config `securityFloor`, "" = none): raises the saved floor at every start */
  securityFloor?: string;
}

export interface DaemonDeps {
  platform: PlatformAdapter;
  downloader: Downloader;
  transport: Transport;
  store: Store<unknown>;
  /** where the ids of the requests acted on are kept (request-log.ts); in memory only without it */
  requestStore?: Store<unknown>;
  clock: Clock;
  device: DeviceInfoSource;
  health?: HealthProbe;
  /** the remotely managed configuration (Object 26241); without it the object is not served */
  config?: ConfigPort;
  /** ends this agent process so that it starts again with its saved state and configuration (systemd Restart=always) */
  restart?(reason: string): Promise<void>;
  logger: Logger;
  newId(): string;
  options: DaemonOptions;
}

export class Daemon {
  private doc: AgentDocument = initialDocument();
  private boot: BootStatus = { booted: 'A', trial: false, pending: null, firmwareVersion: '' };
  private readonly model: Model;
  private readonly observations = new Observations();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly tasks = new Set<Promise<unknown>>();
  private slotTask: Promise<unknown> = Promise.resolve();
  private slotAbort: AbortController | null = null;
  private readonly lifecycle = new AbortController();
  private connectedWaiters: (() => void)[] = [];
  private regId = '';
  private seq = 0;
  private halted = false;
  private factoryImage = false;

  private readonly taskEnv: TaskEnv;
  private readonly requestLog: RequestLog;
  private readonly intake: RequestIntake;
  /** what the request side (request-actions.ts) may do to the daemon */
  private readonly actions: ActionHost;
  private readonly watchers = new Set<(state: FirmwareState) => void>();
  private readonly saver: StateSaver;

  constructor(private readonly deps: DaemonDeps) {
    this.taskEnv = { deps, dispatch: (e) => this.dispatch(e), lifecycle: this.lifecycle.signal, waitConnected: (ms) => this.waitConnected(ms) };
    const now = () => deps.clock.now();
    this.saver = new StateSaver(deps.store, deps.logger);
    this.requestLog = new RequestLog(deps.requestStore);
    this.intake = new RequestIntake({
      log: this.requestLog,
      admission: new RequestAdmission(now()),
      now,
      logger: deps.logger,
      respond: (res) => deps.transport.respond(res),
      handle: (req, record) => this.handle(req, record),
    });
    this.actions = {
      firmware: () => this.doc.firmware,
      settings: () => this.doc.settings,
      config: deps.config,
      logger: deps.logger,
      dispatch: (e) => this.dispatch(e),
      updateSettings: (patch) => this.update((doc) => ({ ...doc, settings: { ...doc.settings, ...patch } })),
      // answer first, then reboot once the answer is out
      rebootSoon: (reason) => this.track(deps.clock.sleep(100).then(() => this.reboot(reason))),
      restartSoon: (reason) => this.track(deps.clock.sleep(200).then(() => this.restartAgent(reason))),
      restart: (reason) => this.restartAgent(reason),
      report: () => this.report(),
      waitConnected: (ms) => this.waitConnected(ms),
      stopping: () => this.lifecycle.signal.aborted,
    };
    this.model = new Model([
      deviceObject({
        snapshot: () => deps.device.snapshot(),
        firmwareVersion: () => this.boot.firmwareVersion,
        agentVersion: deps.options.agentVersion,
        settings: () => this.doc.settings,
        now,
        canFactoryReset: () => this.factoryImage,
        newAttemptId: deps.newId,
        faults: () => this.saver.faults(),
      }),
      firmwareObject({ state: () => this.doc.firmware, now, newAttemptId: deps.newId, allowedSchemes: deps.options.allowedUriSchemes ?? ['http', 'https'] }),
      ...(deps.config ? [configObject(deps.config)] : []),
    ]);
  }

  /** Current firmware state (for tests and the CLI). */
  get firmware(): FirmwareState {
    return this.doc.firmware;
  }

  async start(): Promise<void> {
    const { deps } = this;
    const stored = await deps.store.load();
    this.doc = stored === undefined ? initialDocument() : restoreDocument(stored);
    this.boot = await deps.platform.bootStatus();
    this.factoryImage = (await deps.platform.factoryImage()) !== undefined;
    void deps.device.refresh();
    await this.requestLog.load().catch((e: unknown) => deps.logger.error('the ids of requests already acted on could not be read; starting without them', { error: String(e) }));
    deps.logger.info('agent starting', { device: deps.options.deviceId, slot: this.boot.booted, trial: this.boot.trial, firmwareVersion: this.boot.firmwareVersion, state: stateKey(this.doc.firmware) });
    await deps.transport.start({
      request: (req) => this.track(this.intake.submit(req)),
      refused: (r) => this.intake.refused(r),
      connected: () => this.onConnected(),
      disconnected: (reason) => deps.logger.warn('disconnected from the broker', { reason }),
    });
    // before anything can start a download: the saved floor keeps the configured one even after a factory reset
    // forgets the remote configuration (the floor lives in the state document, which a factory reset keeps)
    if (deps.options.securityFloor) await this.dispatch({ type: 'floor-configured', floor: deps.options.securityFloor });
    const tried = this.saver.attempts;
    await this.dispatch({ type: 'booted', boot: this.boot, at: deps.clock.now() });
    // an unchanged state saves nothing (issue 9 #6): try the folder once anyway, so a read-only or full one is reported
    // at start (Object 3 Error Code 16) instead of at the first request
    if (this.saver.attempts === tried) await this.update((doc) => doc).catch(() => undefined);
    this.track(this.registrationUpdates());
    const trial = deps.config?.trial();
    if (trial) this.track(confirmOrRevert(this.actions, trial));
  }

  /** Stops tasks (a download keeps its checkpoint and resumes on the next start) and disconnects. */
  async stop(): Promise<void> {
    this.lifecycle.abort();
    this.slotAbort?.abort();
    await Promise.allSettled([...this.tasks]);
    await this.queue.catch(() => undefined);
    await this.requestLog.flush().catch(() => undefined);
    await this.deps.transport.stop();
  }

  /**
   * The device-local control channel's view (fota-agent install/update/cancel/mark-*, agent/local-control.ts):
   * `fn` sees the firmware state after each accepted event, progress included. Returns the unsubscribe function.
   * Local commands enter through dispatch() like the hub's requests, so they take the same path through the machine.
   */
  watch(fn: (state: FirmwareState) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /** Feeds one event through the machine, serialised with every other event. */
  dispatch(event: FirmwareEvent): Promise<Outcome> {
    const run = this.queue.then(() => this.apply(event));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async apply(event: FirmwareEvent): Promise<Outcome> {
    const prev = this.doc.firmware;
    const out = transition(prev, event);
    if (out.rejected) {
      if (out.rejected.code === 'ignored') this.deps.logger.info('event ignored', { event: event.type, why: out.rejected.reason });
      return out;
    }
    // an event that changes nothing (an empty Package URI written again in Idle) saves nothing: a flood of them was a
    // flood of fsyncs (issue 9 #6)
    if (!changesSomething(prev, out)) return out;
    // progress and retry reasons are cheap to lose and have no effects: everything else is durable before memory
    // takes it and its effects start
    if (event.type !== 'download-progressed' && event.type !== 'download-retried') {
      const err = await this.saver.save({ ...this.doc, firmware: out.state });
      if (err) return this.unsaved(event, prev, out, err);
    }
    this.enter(prev, out, event.type);
    return out;
  }

  /** Memory takes the saved (or unsavable) outcome: log, notify, effects. */
  private enter(prev: FirmwareState, out: Outcome, event: string): void {
    this.doc = { ...this.doc, firmware: out.state };
    const next = out.state;
    if (stateKey(prev) !== stateKey(next) || prev.result !== next.result) {
      const rec: Parameters<Logger['transition']>[0] = { jobId: next.attemptId, from: stateKey(prev), to: stateKey(next), event, updateResult: next.result };
      if (next.reason) rec.reason = next.reason;
      this.deps.logger.transition(rec);
    }
    this.report();
    for (const w of this.watchers) w(next);
    if (out.effects.length > 0 && !this.halted) this.track(this.runEffects(out.effects));
  }

  /**
   * The save of `out` failed: memory keeps the saved state. A request is refused with the reason (nothing changed,
   * nothing runs); any other event ends the attempt as the machine decides, recorded with the store's reserve when
   * it keeps one, so the hub learns an Update Result and a reason either way.
   */
  private async unsaved(event: FirmwareEvent, prev: FirmwareState, out: Outcome, err: FotaError): Promise<Outcome> {
    const reason = this.saver.describe(err);
    this.report(); // Object 3 Error Code
    if (REQUESTS.has(event.type)) {
      // giving an attempt up (Cancel, an empty URI) moves to safety: it may use the store's reserve, so a full disk
      // can still cancel
      if (out.state.phase === 'idle' && (await this.saver.saveFailure({ ...this.doc, firmware: out.state })) === undefined) {
        this.enter(prev, out, event.type);
        return out;
      }
      return { state: prev, effects: [], rejected: { code: '5.00', reason: `${reason}; nothing changed (free space or make the folder writable, then try again)` } };
    }
    const failed = transition(prev, { type: 'state-save-failed', code: err.code, reason, next: out.state, effects: out.effects, at: this.deps.clock.now() });
    if (failed.rejected) return failed;
    await this.saver.saveFailure({ ...this.doc, firmware: failed.state });
    this.enter(prev, failed, event.type);
    return failed;
  }

  private track<T>(p: Promise<T>): void {
    const t = p.catch((e) => this.deps.logger.error('task failed', { error: String(e) })).finally(() => this.tasks.delete(t));
    this.tasks.add(t);
  }

  // ---------------------------------------------------------------- effects

  private async runEffects(effects: Effect[]): Promise<void> {
    for (const effect of effects) {
      if (this.halted) return;
      await this.perform(effect);
    }
  }

  private async perform(effect: Effect): Promise<void> {
    const { platform, clock } = this.deps;
    switch (effect.type) {
      case 'start-download': {
        const policy = { installed: this.boot.firmwareVersion, floor: this.doc.firmware.floor, allowDowngrade: effect.allowDowngrade };
        return this.slotJob((signal) => downloadTask(this.taskEnv, effect.uri, effect.attemptId, effect.resume, policy, signal));
      }
      case 'flash-factory-image':
        return this.slotJob((signal) => factoryFlashTask(this.taskEnv, effect.attemptId, this.doc.firmware.floor, signal));
      case 'abort-download':
        this.slotAbort?.abort();
        return;
      case 'activate-slot': {
        try {
          const boot = await platform.bootStatus();
          const target = otherSlot(boot.booted);
          if (boot.pending !== target) await platform.activateInactiveSlot();
          await this.dispatch({ type: 'slot-activated', target, from: boot.booted, fromVersion: boot.firmwareVersion, at: clock.now() });
        } catch (e) {
          const err = toFotaError(e, 'activation-failed');
          await this.dispatch({ type: 'activation-failed', code: err.code === 'io-error' ? 'activation-failed' : err.code, reason: `could not activate the new slot: ${err.message}`, at: clock.now() });
        }
        return;
      }
      case 'reboot':
        return this.reboot(effect.reason);
      case 'check-health':
        this.track(healthCheckTask(this.taskEnv));
        return;
      case 'commit':
        try {
          await platform.commitBootedSlot();
          this.boot = await platform.bootStatus();
          await this.dispatch({ type: 'committed', at: clock.now() });
        } catch (e) {
          await this.dispatch({ type: 'commit-failed', reason: toFotaError(e).message, at: clock.now() });
        }
        return;
      case 'revert-trial':
        try {
          await platform.revertTrial();
        } catch (e) {
          // the boot counter still falls back once it is exhausted
          this.deps.logger.error('could not revert the trial; relying on the boot counter', { error: toFotaError(e).message });
        }
        return;
      case 'reset-agent':
        return this.resetAgent();
    }
  }

  /**
   * A factory reset's last step: configuration and settings back to the shipped defaults (both idempotent: a power
   * cut here runs the step again), then Idle + 0 and a fresh start.
   */
  private async resetAgent(): Promise<void> {
    await this.deps.config?.reset();
    await this.update((doc) => ({ ...doc, settings: initialDocument().settings }));
    await this.dispatch({ type: 'agent-reset', at: this.deps.clock.now() });
    await this.restartAgent('factory reset: configuration back to the shipped defaults');
  }

  private async restartAgent(reason: string): Promise<void> {
    if (!this.deps.restart || this.halted) return;
    this.halted = true;
    this.deps.logger.info('restarting the agent', { reason });
    await this.deps.transport.flush(3000);
    await this.deps.restart(reason);
  }

  /**
   * Changes the persisted document outside the firmware machine, inside the serial queue: saves, then memory takes it.
   * Throws a FotaError saying why when it cannot be saved (nothing changed).
   */
  private update(change: (doc: AgentDocument) => AgentDocument): Promise<void> {
    const run = this.queue.then(async () => {
      const next = change(this.doc);
      const err = await this.saver.save(next);
      this.report();
      if (err) throw new FotaError(err.code, `${this.saver.describe(err)}; nothing changed`, { cause: err });
      this.doc = next;
      this.report();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Runs a task that writes the inactive slot, after the previous one has settled. */
  private slotJob(job: (signal: AbortSignal) => Promise<void>): void {
    const previous = this.slotTask;
    const abort = new AbortController();
    this.slotAbort?.abort();
    this.slotAbort = abort;
    const run = previous.catch(() => undefined).then(() => (abort.signal.aborted ? undefined : job(abort.signal)));
    this.slotTask = run.catch(() => undefined);
    this.track(run);
  }

  private waitConnected(timeoutMs: number): Promise<boolean> {
    if (this.deps.transport.connected) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = new AbortController();
      const done = (ok: boolean) => {
        timer.abort();
        resolve(ok);
      };
      this.connectedWaiters.push(() => done(true));
      this.deps.clock.sleep(timeoutMs, AbortSignal.any([timer.signal, this.lifecycle.signal])).then(
        () => done(false),
        () => done(this.deps.transport.connected),
      );
    });
  }

  private async reboot(reason: string): Promise<void> {
    if (this.halted) return;
    this.halted = true;
    this.deps.logger.info('rebooting', { reason });
    // let the hub see the last state (e.g. Updating) before the link drops
    await this.deps.transport.flush(3000);
    try {
      await this.deps.platform.reboot(reason);
    } catch (e) {
      this.halted = false;
      this.deps.logger.error('reboot failed', { error: toFotaError(e).message });
    }
  }

  // ---------------------------------------------------------------- protocol side

  private onConnected(): void {
    const { deps } = this;
    this.observations.clear();
    this.regId = deps.newId();
    this.seq = 0;
    deps.transport.register(this.registration('register'));
    deps.logger.info('registered', { regId: this.regId });
    for (const w of this.connectedWaiters.splice(0)) w();
  }

  private registration(op: 'register' | 'update') {
    const { options, clock } = this.deps;
    return { op, ep: options.deviceId, lwm2m: '1.2' as const, lt: options.lifetimeSec, objects: this.model.instancePaths(), agent: { name: 'fota-agent', version: options.agentVersion }, regId: this.regId, time: clock.now() };
  }

  private async registrationUpdates(): Promise<void> {
    const { clock, options, transport } = this.deps;
    const every = Math.max(1, options.lifetimeSec / 2) * 1000;
    while (!this.lifecycle.signal.aborted) {
      try {
        await clock.sleep(every, this.lifecycle.signal);
      } catch {
        return;
      }
      if (transport.connected && this.regId) {
        transport.register(this.registration('update'));
        void this.deps.device.refresh();
      }
      // a state folder that failed: try again, in the queue like every save (the fault clears once it works)
      if (this.saver.faults().length > 0) await this.update((doc) => doc).catch(() => undefined);
    }
  }

  /** Sends a notification for every observed path whose value changed. */
  private report(): void {
    for (const c of this.observations.changes((p) => this.readStable(p))) {
      this.deps.transport.notify({ token: c.token, path: c.path, value: c.value, seq: ++this.seq, time: this.deps.clock.now() });
    }
  }

  private readStable(path: string): JsonValue | undefined {
    const p = parsePath(path);
    if (!p) return undefined;
    const r = this.model.read(p, true);
    return r.code === '2.05' ? r.value : undefined;
  }

  private async handle(req: Request, record: () => Promise<void>): Promise<Response> {
    const path = parsePath(req.path);
    if (!path) return { id: req.id, code: '4.00', reason: `bad path ${req.path}` };
    const withReason = (r: { code: Response['code']; value?: JsonValue; reason?: string }): Response => ({ id: req.id, ...r });
    switch (req.op) {
      case 'read':
        return withReason(this.model.read(path));
      case 'observe': {
        const r = this.model.read(path);
        if (r.code !== '2.05') return withReason(r);
        if (!this.observations.add(req.id, req.path, this.readStable(req.path) ?? null)) return { id: req.id, code: '4.00', reason: 'too many observations; cancel some first' };
        return withReason(r);
      }
      case 'cancel-observe': {
        const n = this.observations.cancel(req.path, req.token);
        return n > 0 ? withReason(this.model.read(path)) : { id: req.id, code: '4.04', reason: 'no such observation' };
      }
      case 'write':
        return act(this.actions, req.id, this.model.write(path, req.value), record);
      case 'execute':
        return act(this.actions, req.id, this.model.execute(path, req.args), record);
    }
  }
}
