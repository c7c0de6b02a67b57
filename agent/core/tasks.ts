// The agent's long-running effects as tasks: the download, the factory-image flash and the health check. Each runs
// outside the daemon's serial queue and reports its outcome back as a machine event. Ports only (no node:*).

import { FotaError, isFotaError, toFotaError } from './errors.js';
import { belowFloor, type VersionPolicy } from './version-policy.js';
import type { FirmwareEvent, FirmwareState } from './firmware-machine.js';
import type { Clock, Downloader, HealthProbe, Logger, PlatformAdapter } from './ports.js';

/** What a task may use of the daemon. */
export interface TaskEnv {
  deps: {
    platform: PlatformAdapter;
    downloader: Downloader;
    clock: Clock;
    health?: HealthProbe;
    logger: Logger;
    options: { progressIntervalMs: number; healthConnectTimeoutMs: number; manualCommit?: boolean };
  };
  dispatch(event: FirmwareEvent): Promise<unknown>;
  /** aborted when the agent stops */
  lifecycle: AbortSignal;
  waitConnected(timeoutMs: number): Promise<boolean>;
}

export const isAbort = (e: unknown) => (e as { name?: string } | undefined)?.name === 'AbortError';

/**
 * At most one progress report per `intervalMs` (monotonic: a wall clock set back must not hold reports back, issue
 * 10 #7), and 100 % at once. A percent held back is reported when the interval ends, even if no byte comes after it:
 * a stalled download shows how far it got, not the percent of up to one interval earlier (issue 10 #9's test).
 * INVARIANTS: at most one pending report (`waiting`); nothing is reported after stop().
 */
class ProgressThrottle {
  #last = -1;
  #lastAt = -Infinity;
  #held: number | undefined;
  #waiting = false;
  readonly #stopped = new AbortController();

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly report: (percent: number) => void,
  ) {}

  update(percent: number): void {
    if (this.#stopped.signal.aborted || percent === this.#last) return;
    const wait = this.#lastAt + this.intervalMs - this.clock.monotonic();
    if (wait <= 0 || percent >= 100) return this.#send(percent);
    this.#held = percent;
    if (this.#waiting) return;
    this.#waiting = true;
    this.clock.sleep(wait, this.#stopped.signal).then(
      () => {
        this.#waiting = false;
        if (this.#held !== undefined && !this.#stopped.signal.aborted) this.#send(this.#held);
      },
      () => (this.#waiting = false),
    );
  }

  stop(): void {
    this.#stopped.abort();
  }

  #send(percent: number): void {
    this.#last = percent;
    this.#lastAt = this.clock.monotonic();
    this.#held = undefined;
    this.report(percent);
  }
}

/**
 * Streams the package into the inactive slot; the outcome comes back as download-succeeded / download-failed. The
 * version policy (anti-rollback) is checked by the downloader before any payload byte reaches the slot.
 */
export async function downloadTask(env: TaskEnv, uri: string, attemptId: string, resume: FirmwareState['resume'], policy: VersionPolicy, signal: AbortSignal): Promise<void> {
  const { clock, options } = env.deps;
  const progress = new ProgressThrottle(clock, options.progressIntervalMs, (percent) => void env.dispatch({ type: 'download-progressed', attemptId, percent }));
  try {
    const pkg = await env.deps.downloader
      .download(resume ? { uri, resume, policy } : { uri, policy }, {
        signal,
        progress: (done, total) => {
          if (total) progress.update(Math.floor((done * 100) / total));
        },
        checkpoint: (token) => void env.dispatch({ type: 'download-checkpointed', attemptId, resume: token }),
        retrying: (reason) => void env.dispatch({ type: 'download-retried', attemptId, reason }),
      })
      // no progress of this attempt after its outcome
      .finally(() => progress.stop());
    await env.dispatch({ type: 'download-succeeded', attemptId, pkg, at: clock.now() });
  } catch (e) {
    if (signal.aborted || isAbort(e)) return; // cancelled, or the agent is stopping: the checkpoint stays
    const err = toFotaError(e);
    if (!isFotaError(e)) env.deps.logger.error('download failed unexpectedly', { error: String(e) });
    await env.dispatch({ type: 'download-failed', attemptId, code: err.code, reason: err.message, at: clock.now() });
  }
}

/**
 * Copies the platform's factory image into the inactive slot (a factory reset's first step). The factory image may be
 * older than the installed firmware (a factory reset is the one downgrade no job must allow), but never below the
 * security floor: that would undo the floor by other means.
 */
export async function factoryFlashTask(env: TaskEnv, attemptId: string, floor: string, signal: AbortSignal): Promise<void> {
  const { platform, clock } = env.deps;
  try {
    const image = await platform.factoryImage();
    if (!image) throw toFotaError(new Error('the factory image is gone'), 'unsupported');
    const below = belowFloor(image.version || '(unknown)', floor);
    if (below !== undefined) throw new FotaError('downgrade-refused', `the factory image ${below}; the device keeps its firmware (a factory image at or above the floor must be installed first)`);
    const writer = await platform.openInactiveSlot({ size: image.size, ...(image.sha256 ? { sha256: image.sha256 } : {}) });
    try {
      for await (const chunk of image.open()) {
        if (signal.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
        await writer.write(chunk);
      }
      await writer.finish();
    } catch (e) {
      await writer.abort();
      throw e;
    }
    await env.dispatch({ type: 'image-flashed', attemptId, version: image.version, at: clock.now() });
  } catch (e) {
    if (signal.aborted || isAbort(e)) return;
    const err = toFotaError(e);
    await env.dispatch({ type: 'flash-failed', attemptId, code: err.code, reason: err.message, at: clock.now() });
  }
}

/** The trial boot's health check: the broker within the configured time, then the optional health command. */
export async function healthCheckTask(env: TaskEnv): Promise<void> {
  const { clock, options, health } = env.deps;
  const fail = (reason: string) => env.dispatch({ type: 'health-failed', reason, at: clock.now() });
  if (!(await env.waitConnected(options.healthConnectTimeoutMs))) {
    if (env.lifecycle.aborted) return;
    await fail(`the agent did not reach the broker within ${Math.round(options.healthConnectTimeoutMs / 1000)} s of booting`);
    return;
  }
  if (health) {
    const res = await health.run(env.lifecycle).catch((e: unknown) => ({ ok: false as const, reason: String(e) }));
    if (env.lifecycle.aborted) return;
    if (!res.ok) return void (await fail(res.reason));
  }
  // health.manual: the board's own checks decide; `fota-agent mark-good` or `mark-bad` ends the trial (local-control.ts)
  if (options.manualCommit) return env.deps.logger.info('trial boot healthy so far; waiting for fota-agent mark-good or mark-bad (health.manual)');
  await env.dispatch({ type: 'health-passed', at: clock.now() });
}
