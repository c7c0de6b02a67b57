// The fleet host: N simulated devices in ONE Node process, each a full agent (Daemon + MqttTransport +
// PackageDownloader + FileStore + SimulatorPlatform) with its own device folder, state dir and MQTT client, built
// by agent/compose.ts from a parsed configuration, exactly as agent/main.ts builds one (every default is the
// agent's own). Nothing mutable is shared between devices. A simulated reboot stops that
// device's daemon, runs the simulated bootloader (bootOnce) and starts a fresh daemon, like `fota sim run` does.
//
// INVARIANTS
// - At most one Daemon per device exists at a time; a power cycle starts the next one only after the old one stopped.
// - After `stop()` no device boots again (a reboot already under way ends powered off).

import { createPublicKey, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Daemon } from '../../agent/core/daemon.js';
import type { DeviceInfoSource, DeviceSnapshot, Logger } from '../../agent/core/ports.js';
import { composeAgent } from '../../agent/compose.js';
import { parseConfig } from '../../agent/config.js';
import { FileStore } from '../../agent/adapters/file-store.js';
import { jsonLogger } from '../../agent/adapters/json-logger.js';
import type { Transport } from '../../agent/core/ports.js';
import { bootOnce, type SimBootRecord } from '../../platform/simulator/bootloader.js';
import { SIM_DEVICE_TYPE, SIM_FILES } from '../../platform/simulator/constants.js';
import { ensureSimDevice } from '../../platform/simulator/device-dir.js';

/** Version string the simulated agents report (the bench is not a release). */
export const FLEET_AGENT_VERSION = '0.0.0-fleet-bench';

export interface FleetHostOptions {
  /** the broker every device connects to, e.g. mqtt://127.0.0.1:1883 */
  brokerUrl: string;
  /** MQTT topic prefix (the hub's --prefix) */
  prefix: string;
  /** the device folders (createFleetDevices): BASE/<id> */
  baseDir: string;
  /** device ids (valid MQTT endpoints, unique) */
  ids: readonly string[];
  /** PEM of the Ed25519 key packages are signed with */
  trustedKeyPem: string;
  /** agent log level; every device logs to this process's stdout, its id in `component` */
  logLevel: 'info' | 'warn' | 'error';
  /** devices started at the same time (default 32): avoids a connect storm on the broker */
  concurrency?: number;
}

/** What one device did during the run, for the report. */
export interface DeviceReport {
  id: string;
  boots: number;
  /** firmware version the last boot found in the booted slot */
  version: string;
  slot: 'A' | 'B' | '';
  connected: boolean;
  /** error-level log lines of this device's agents (a failed task, a failed reboot, …) */
  errors: number;
  lastError: string;
  /** first time (ms epoch) each firmware event happened on this device: uri-written, download-succeeded, committed, … */
  events: Record<string, number>;
}

/** Object 3 facts without systeminformation: one shell-out per device at start would dominate the setup. */
class StaticDeviceInfo implements DeviceInfoSource {
  private readonly snap: DeviceSnapshot;
  constructor(serial: string) {
    this.snap = { manufacturer: 'fota', model: 'fleet-bench simulator', serial, hardwareVersion: 'sim-1', deviceType: SIM_DEVICE_TYPE, storageFreeKB: 3_000_000, storageTotalKB: 8_000_000 };
  }
  snapshot(): DeviceSnapshot {
    return this.snap;
  }
  refresh(): Promise<void> {
    return Promise.resolve();
  }
}

/** One simulated device: its folder, and the daemon of its current boot. */
class SimulatedDevice {
  readonly dir: string;
  private daemon: Daemon | undefined;
  private transport: Transport | undefined;
  private cycling: Promise<void> = Promise.resolve();
  private powered = true;
  private boot: SimBootRecord | undefined;
  private boots = 0;
  private errors = 0;
  private lastError = '';
  private readonly events: Record<string, number> = {};
  private readonly logger: Logger;

  constructor(
    readonly id: string,
    private readonly opts: FleetHostOptions,
    private readonly keys: readonly KeyObject[],
    private readonly keyFile: string,
  ) {
    this.dir = join(opts.baseDir, id);
    const base = jsonLogger({ component: `fota-agent/${id}`, level: opts.logLevel });
    const count = (msg: string, fields?: Record<string, unknown>) => {
      this.errors++;
      this.lastError = `${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`.slice(0, 300);
    };
    this.logger = {
      ...base,
      error: (msg, fields) => (count(msg, fields), base.error(msg, fields)),
      // the device-side timeline of the update, for "where the time goes"
      transition: (rec) => ((this.events[rec.event] ??= Date.now()), base.transition(rec)),
    };
  }

  /** Powers the device on: boots and starts the first daemon. Resolves once the daemon started (not connected). */
  async powerOn(): Promise<void> {
    await this.bootAndStart();
  }

  get connected(): boolean {
    return this.transport?.connected === true;
  }

  private async bootAndStart(): Promise<void> {
    const rec = await bootOnce(this.dir);
    this.boot = rec;
    this.boots++;
    if (rec.broken) {
      // the bench only ships good images; a broken boot means the bench itself is wrong
      this.logger.error('boot failed: the device does not reach the agent', { reason: rec.brokenReason });
      return;
    }
    const { opts, id } = this;
    // the agent's own defaults, as `fota sim run` would configure it (the keys are passed as objects below)
    const cfg = parseConfig({
      deviceId: id,
      broker: { url: opts.brokerUrl },
      topicPrefix: opts.prefix,
      platform: { name: 'simulator', options: { dir: this.dir } },
      stateDir: join(this.dir, SIM_FILES.state),
      trustedKeys: [this.keyFile],
      logLevel: opts.logLevel,
    });
    const { daemon, transport } = composeAgent({
      cfg,
      // the key file is parsed once for the whole fleet (FleetHost), not once per device
      secrets: { trustedKeys: { keys: [...this.keys], retired: [] }, broker: {} },
      version: FLEET_AGENT_VERSION,
      logger: this.logger,
      device: new StaticDeviceInfo(id),
      store: new FileStore(cfg.stateDir),
      platformContext: {
        // like main.ts: not awaited, this runs inside the daemon's reboot effect, which stop() waits for
        reboot: async () => {
          void this.powerCycle();
        },
      },
    });
    this.daemon = daemon;
    this.transport = transport;
    await daemon.start();
  }

  /** The simulated reboot: stop this boot's daemon, run the bootloader, start the next daemon. */
  private powerCycle(): Promise<void> {
    const run = this.cycling.then(async () => {
      const old = this.daemon;
      this.daemon = undefined;
      this.transport = undefined;
      await old?.stop();
      if (!this.powered) return;
      await this.bootAndStart();
    });
    this.cycling = run.catch((e: unknown) => this.logger.error('power cycle failed', { error: String(e) }));
    return this.cycling;
  }

  /** Powers off: stops the daemon (or waits for a reboot under way to end) and never boots again. */
  async powerOff(): Promise<void> {
    this.powered = false;
    await this.cycling;
    const d = this.daemon;
    this.daemon = undefined;
    this.transport = undefined;
    await d?.stop();
  }

  report(): DeviceReport {
    return { id: this.id, boots: this.boots, version: this.boot?.version ?? '', slot: this.boot?.slot ?? '', connected: this.connected, errors: this.errors, lastError: this.lastError, events: { ...this.events } };
  }
}

/** Runs `fn` over `items` with at most `limit` at once; rejects with the first failure after all settled. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item).catch((e: unknown) => errors.push(e));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (errors.length > 0) throw errors[0];
}

/**
 * Creates the device folders under `baseDir` (slot A holds a committed image of version 1.0.0). Run it in another
 * process than the fleet host, so that generating the images does not count in the host's memory.
 * Throws the first failure (disk full, a folder of another device).
 */
export async function createFleetDevices(baseDir: string, ids: readonly string[], opts: { imageSize: number; slotCapacity: number; concurrency?: number }): Promise<void> {
  await eachLimited(ids, opts.concurrency ?? 16, async (id) => {
    await ensureSimDevice({ dir: join(baseDir, id), id, imageSize: opts.imageSize, slotCapacity: opts.slotCapacity, version: '1.0.0' });
  });
}

/** N simulated devices (created with createFleetDevices) in this process: start → (a job runs) → stop. */
export class FleetHost {
  private readonly devices: SimulatedDevice[];

  /** Throws when the trusted key is not an Ed25519 public key or a device id is repeated. */
  constructor(private readonly opts: FleetHostOptions) {
    const key = createPublicKey(opts.trustedKeyPem);
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the trusted key is a ${key.asymmetricKeyType} key, not Ed25519`);
    if (new Set(opts.ids).size !== opts.ids.length) throw new Error('device ids must be unique');
    const keyFile = join(opts.baseDir, 'trusted.pub');
    writeFileSync(keyFile, opts.trustedKeyPem);
    this.devices = opts.ids.map((id) => new SimulatedDevice(id, opts, [key], keyFile));
  }

  get size(): number {
    return this.devices.length;
  }

  /** Boots every device and starts its agent. Resolves once all daemons started; connecting goes on. */
  async start(): Promise<void> {
    await eachLimited(this.devices, this.opts.concurrency ?? 32, (d) => d.powerOn());
  }

  /** How many devices have an agent connected to the broker right now. */
  connectedCount(): number {
    return this.devices.reduce((n, d) => n + (d.connected ? 1 : 0), 0);
  }

  /** Stops every agent (each publishes offline presence and disconnects). Never throws. */
  async stop(): Promise<void> {
    await eachLimited(this.devices, 256, (d) => d.powerOff().catch(() => undefined));
  }

  reports(): DeviceReport[] {
    return this.devices.map((d) => d.report());
  }
}
