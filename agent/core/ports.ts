// The ports of the agent core: what the daemon needs from the outside world, as interfaces only.
// Pure types: adapters (agent/adapters) and platforms (platform/) implement them; agent/main.ts wires them.

import type { JsonValue, Notification, Registration, Request, Response } from '../../protocol/messages.js';
import type { VersionPolicy } from './version-policy.js';

export type SlotName = 'A' | 'B';

export function otherSlot(slot: SlotName): SlotName {
  return slot === 'A' ? 'B' : 'A';
}

/** What the bootloader says about the running system. */
export interface BootStatus {
  /** the slot the running system was booted from */
  booted: SlotName;
  /** true when this boot is an uncommitted trial of `booted` (the bootloader falls back unless it is committed) */
  trial: boolean;
  /** a slot armed to be tried on the next boot (activateInactiveSlot was called, the reboot has not happened) */
  pending: SlotName | null;
  /** firmware version of the booted slot, read from the image itself; "" when unknown */
  firmwareVersion: string;
}

/** A sink into the inactive slot. Writes are sequential; nothing is durable before `sync`/`finish` resolve. */
export interface SlotWriter {
  /** absolute byte offset the next write lands at */
  readonly position: number;
  /**
   * Takes the whole chunk (it may be staged in memory and written later; only `sync`/`finish` promise durability).
   * The caller may reuse the chunk's memory once this resolves. Throws FotaError('no-space') past the slot's end.
   */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Makes every byte written so far durable (fdatasync). write() and finish() may be called before it resolves (the
   * download goes on during the fdatasync); what they add is not covered by this sync.
   */
  sync(): Promise<void>;
  /**
   * true: the writer was opened with the image's SHA-256 and size, and finish() throws FotaError('integrity-mismatch')
   * unless the slot's bytes 0..size, read back, hash to it. The caller need not hash what it writes.
   */
  readonly checksImage?: boolean;
  /** sync + close. The image is durable when this resolves. Idempotent. */
  finish(): Promise<void>;
  /** Close without syncing; the slot's content is undefined afterwards. Idempotent, never throws. */
  abort(): Promise<void>;
}

/**
 * The board seam, in boot terms (RAUC's verbs). Every verb is idempotent: after a power cut the daemon
 * calls it again. Implementations throw FotaError with a code from errors.ts.
 */
export interface PlatformAdapter {
  readonly name: string;
  bootStatus(): Promise<BootStatus>;
  /** capacity of the inactive slot in bytes */
  inactiveSlotCapacity(): Promise<number>;
  /**
   * Opens the inactive slot for writing an image of `size` bytes, starting at `offset` (0 unless resuming).
   * Throws FotaError('no-space') when `size` exceeds the slot. Refuses while the inactive slot is armed for a trial.
   * With `sha256` (hex, of the whole image), the writer's finish() reads bytes 0..size back from the slot and throws
   * FotaError('integrity-mismatch') unless they hash to it; without, it checks the bytes it was handed.
   */
  openInactiveSlot(opts: { size: number; offset?: number; sha256?: string }): Promise<SlotWriter>;
  /** Reads back the first `length` bytes of the inactive slot (used to re-hash a partial image before resuming). */
  readInactiveSlot(length: number): AsyncIterable<Uint8Array>;
  /** The next boot, and only the next boot sequence, tries the inactive slot (trial with a boot counter). */
  activateInactiveSlot(): Promise<void>;
  /** Marks the booted trial slot good: it becomes the default; the boot counter is cleared. */
  commitBootedSlot(): Promise<void>;
  /** Gives up the booted trial: the next boot falls back to the committed slot (RAUC "mark-bad"). */
  revertTrial(): Promise<void>;
  /** Reboots the device. Resolves when the reboot has been requested; the process is expected to end soon after. */
  reboot(reason: string): Promise<void>;
  /**
   * The factory image, when the platform keeps one: a byte stream and its size. Undefined when it has none
   * (Factory Reset then answers 4.05).
   */
  factoryImage(): Promise<{ size: number; version: string; sha256?: string; open(): AsyncIterable<Uint8Array> } | undefined>;
  /**
   * Optional, read-only, for `fota-agent status`: the bootloader variables of the A/B scheme, and the firmware
   * version in each slot the platform can read from the image itself (the booted one at least, when known).
   */
  describe?(): Promise<PlatformDescription>;
}

export interface PlatformDescription {
  bootloader: Record<string, string>;
  slotVersions: Partial<Record<SlotName, string>>;
}

/** The signed manifest facts the daemon keeps after a verified download. */
export interface PackageInfo {
  name: string;
  version: string;
  payloadSize: number;
  sha256: string;
  /** the security floor the package declares: the device's floor rises to it once the package is committed */
  securityFloor?: string;
}

/** Opaque resume data owned by the downloader; the daemon only persists it and hands it back. */
export type ResumeToken = { [key: string]: JsonValue };

export interface DownloadHooks {
  signal: AbortSignal;
  /** bytes of the package received so far and its total size when known; called often, the daemon throttles */
  progress(done: number, total: number | undefined): void;
  /** a durable point (the slot was synced up to it); persisted so a restart can resume from it */
  checkpoint(resume: ResumeToken): void;
  /** the download was interrupted and will be retried after a backoff: why, for the hub to read meanwhile */
  retrying?(reason: string): void;
}

/**
 * Streams a package into the inactive slot, verifying it on the way: manifest signature, compatibility and size
 * before the first payload byte reaches the slot, payload SHA-256 before it resolves.
 */
export interface Downloader {
  /**
   * Resolves with the verified manifest; rejects with FotaError (or an AbortError when `signal` fires). With a
   * `policy`, a version it refuses (version-policy.ts) is rejected as 'downgrade-refused' before any payload byte
   * reaches the slot.
   */
  download(request: { uri: string; resume?: ResumeToken; policy?: VersionPolicy }, hooks: DownloadHooks): Promise<PackageInfo>;
}

/**
 * Time. `now()` is the wall clock, for timestamps only (it jumps when NTP or a person sets the clock); every interval
 * and timeout is measured with `monotonic()` or `sleep()`, which never jump.
 */
export interface Clock {
  /** ms since the epoch (wall clock): for timestamps reported or saved, never for measuring time */
  now(): number;
  /** ms since an arbitrary origin, never going back (CLOCK_MONOTONIC): for intervals and timeouts */
  monotonic(): number;
  /** resolves after `ms` (monotonic), or rejects with an AbortError when `signal` fires */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Atomic, versioned persistence of one JSON document (write temp, fsync, rename, fsync dir). */
export interface Store<T> {
  /** where the document is kept, for messages (a path) */
  readonly where?: string;
  /** undefined when nothing was saved yet; throws when the stored document is unreadable */
  load(): Promise<T | undefined>;
  /** Throws when it cannot save (a full or read-only disk); the previous document then stays intact. */
  save(value: T): Promise<void>;
  /**
   * Saves a document that records a failure, after save() failed: may use space held in reserve for it, so a full
   * disk can still record the failure it caused. Optional: without it the daemon uses save().
   */
  saveFailure?(value: T): Promise<void>;
}

export interface TransportHandlers {
  request(req: Request): void;
  /** a message on the request topic that must not be acted on (malformed, retained); `id` when one was readable */
  refused(r: { id?: string; reason: string }): void;
  connected(): void;
  disconnected(reason: string): void;
}

/** The protocol link to the hub. Speaks messages, not topics; validates inbound payloads itself. */
export interface Transport {
  /** Starts connecting (and reconnecting with backoff). Resolves once started, not once connected. */
  start(handlers: TransportHandlers): Promise<void>;
  /** connected and listening for requests (true from `handlers.connected()` until `handlers.disconnected()`) */
  readonly connected: boolean;
  respond(res: Response): void;
  notify(n: Notification): void;
  register(reg: Registration): void;
  /** Resolves once everything queued so far reached the broker (QoS 1 acknowledged), or after `timeoutMs`. */
  flush(timeoutMs: number): Promise<void>;
  /** Publishes offline presence and disconnects. Idempotent. */
  stop(): Promise<void>;
}

/** Static and slowly changing facts about the device (Object 3). Reads are synchronous snapshots. */
export interface DeviceSnapshot {
  manufacturer: string;
  model: string;
  serial: string;
  hardwareVersion: string;
  deviceType: string;
  /**
   * Free and total space of the filesystem holding the agent's state directory, in kB of 1000 bytes (LwM2M Object 3
   * resources 10 and 21 are storage, "KB"; the space a download and the agent's own files need)
   */
  storageFreeKB: number;
  storageTotalKB: number;
  batteryLevel?: number;
}

export interface DeviceInfoSource {
  /** latest cached values; never blocks */
  snapshot(): DeviceSnapshot;
  /** refreshes the cache in the background; never throws */
  refresh(): Promise<void>;
}

/** An optional command that decides whether freshly booted firmware is healthy. */
export interface HealthProbe {
  run(signal: AbortSignal): Promise<{ ok: true } | { ok: false; reason: string }>;
}

/** A configuration change this run is trying: kept once the agent connects within `timeoutMs`, else reverted. */
export interface ConfigTrial {
  revision: number;
  keys: string[];
  timeoutMs: number;
}

/**
 * The agent's remotely managed configuration (Object 26241). Keys are configuration keys ("download.retries").
 * Changes are validated against the whole configuration, persisted atomically, and take effect when the agent
 * restarts, on trial: the agent keeps a change only once it has connected with it (confirm or revert).
 */
export interface ConfigPort {
  /** current values of the remotely managed keys (the newest change); secrets are never included */
  values(): Record<string, JsonValue>;
  /** how many remote changes are in effect (0 = the shipped configuration) */
  revision(): number;
  /** what became of the last change (kept, reverted and why) or a problem with the saved changes; "" when none */
  status(): string;
  /** validates `patch` on top of the current configuration: undefined when valid, else a reason naming the key */
  check(patch: Record<string, JsonValue>): string | undefined;
  /**
   * Validates and persists the change atomically as the candidate the agent restarts with. `refused`: invalid on
   * top of the current configuration; `changed: false`: every value is already the current one; nothing is saved
   * in either case. Throws when it cannot be saved (nothing changes then). Serialised with every other change.
   */
  apply(patch: Record<string, JsonValue>): Promise<{ changed: boolean; refused?: string }>;
  /** the change this run is trying, if any */
  trial(): ConfigTrial | undefined;
  /** the change on trial connected: keep it */
  confirm(): Promise<void>;
  /** the change on trial did not connect: the next start uses the last configuration that did; `reason` is reported */
  revert(reason: string): Promise<void>;
  /** forgets every remote change (factory reset) */
  reset(): Promise<void>;
}

/** Structured log sink: one JSON object per line (journald). Never given credentials or signed URLs. */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  transition(record: { jobId: string; from: string; to: string; event: string; updateResult: number; reason?: string }): void;
}
