// The agent's composition: configuration → adapters → platform → Daemon, in one function. agent/main.ts (the
// process), the fleet benchmark (thousands of agents in one process) and the virtual board all build an agent here,
// so a default changed in agent/config.ts reaches every one of them. With main.ts, the only agent file that
// imports platform/ (dependency rules in .dependency-cruiser.cjs).

import { randomUUID } from 'node:crypto';
import { topicsFor } from '../protocol/topics.js';
import { createPlatform, platformDeviceType, type PlatformContext } from '../platform/registry.js';
import { readKeyFile, type AgentConfig } from './config.js';
import { Daemon } from './core/daemon.js';
import type { ConfigPort, DeviceInfoSource, Logger, PlatformAdapter, Store, Transport } from './core/ports.js';
import { SystemDeviceInfo } from './adapters/device-info.js';
import { agentStateStore, FileStore } from './adapters/file-store.js';
import { healthCommand } from './adapters/health-command.js';
import { MqttTransport } from './adapters/mqtt-transport.js';
import { PackageDownloader } from './adapters/package-downloader.js';
import { loadTrustedKeys, type TrustedKeys } from './adapters/trusted-keys.js';
import { systemClock } from './adapters/system-clock.js';

/** The files a configuration points at, read once: trusted keys, broker password and TLS material, download CA. */
export interface AgentSecrets {
  trustedKeys: TrustedKeys;
  broker: { password?: string; ca?: string; cert?: string; key?: string };
  downloadCa?: string;
}

/** Reads the files the configuration names. Throws ConfigError naming the key (the agent exits 78). */
export function readAgentSecrets(cfg: AgentConfig): AgentSecrets {
  const optional = (key: string, path: string) => (path ? readKeyFile(key, path) : undefined);
  const broker: AgentSecrets['broker'] = {};
  const password = cfg.broker.passwordFile ? readKeyFile('broker.passwordFile', cfg.broker.passwordFile).trim() : cfg.broker.password || undefined;
  if (password !== undefined) broker.password = password;
  const ca = optional('broker.caFile', cfg.broker.caFile);
  const cert = optional('broker.certFile', cfg.broker.certFile);
  const key = optional('broker.keyFile', cfg.broker.keyFile);
  if (ca !== undefined) broker.ca = ca;
  if (cert !== undefined) broker.cert = cert;
  if (key !== undefined) broker.key = key;
  const downloadCa = optional('download.caFile', cfg.download.caFile);
  return { trustedKeys: loadTrustedKeys(cfg), broker, ...(downloadCa !== undefined ? { downloadCa } : {}) };
}

export interface ComposeOptions {
  cfg: AgentConfig;
  secrets: AgentSecrets;
  /** the agent version reported in Object 3 and the User-Agent */
  version: string;
  logger: Logger;
  /** the remotely managed configuration (Object 26241); without it the object is not served */
  config?: ConfigPort;
  /** the simulator's reboot and other hooks the platform needs from its host */
  platformContext?: PlatformContext;
  /** a platform built by the caller (default: the configured backend from platform/registry.ts) */
  platform?: PlatformAdapter;
  /** Object 3 facts (default: systeminformation and the configuration's device section) */
  device?: DeviceInfoSource;
  /** the state store (default: a FileStore in cfg.stateDir) */
  store?: Store<unknown>;
  /** the link to the hub (default: MQTT to cfg.broker); `fota-agent install` run alone passes an offline one */
  transport?: Transport;
  /** ends the process so that it starts again with its saved state and configuration */
  restart?(reason: string): Promise<void>;
}

export interface ComposedAgent {
  daemon: Daemon;
  transport: Transport;
  platform: PlatformAdapter;
  deviceType: string;
}

/** Builds one agent from a parsed configuration. Throws PlatformConfigError for bad platform options. */
export function composeAgent(o: ComposeOptions): ComposedAgent {
  const { cfg, secrets, logger, version } = o;
  const platform = o.platform ?? createPlatform(cfg.platform.name, cfg.platform.options, { stateDir: cfg.stateDir, ...o.platformContext });
  const deviceType = cfg.device.deviceType || platformDeviceType(cfg.platform.name);
  const transport = o.transport ?? new MqttTransport({
    url: cfg.broker.url,
    clientId: `fota-agent-${cfg.deviceId}`,
    topics: topicsFor(cfg.topicPrefix, cfg.deviceId),
    ...(cfg.broker.username ? { username: cfg.broker.username } : {}),
    ...secrets.broker,
    rejectUnauthorized: cfg.broker.rejectUnauthorized,
    keepaliveSec: cfg.broker.keepaliveSec,
    protocolVersion: cfg.broker.protocolVersion,
    connectTimeoutMs: cfg.broker.connectTimeoutSec * 1000,
    backoff: { initialMs: cfg.broker.reconnectInitialDelaySec * 1000, maxMs: cfg.broker.reconnectMaxDelaySec * 1000 },
    logger,
  });
  const downloader = new PackageDownloader({
    http: {
      allowedSchemes: cfg.allowedUriSchemes,
      ...(secrets.downloadCa !== undefined ? { ca: secrets.downloadCa } : {}),
      connectTimeoutMs: cfg.download.connectTimeoutSec * 1000,
      stallTimeoutMs: cfg.download.stallTimeoutSec * 1000,
      minBytesPerSec: cfg.download.minBytesPerSec,
      minAverageBytesPerSec: cfg.download.minAverageBytesPerSec,
      deadlineMs: cfg.download.deadlineSec * 1000,
      retries: cfg.download.retries,
      initialDelayMs: cfg.download.initialDelaySec * 1000,
      maxDelayMs: cfg.download.maxDelaySec * 1000,
      // the device id in the User-Agent lets a package server log (or pick) per device
      userAgent: `fota-agent/${version} (${cfg.deviceId})`,
    },
    platform,
    deviceType,
    trustedKeys: secrets.trustedKeys.keys,
    retiredKeyIds: secrets.trustedKeys.retired,
    allowUnsigned: cfg.allowUnsigned,
    checkpointBytes: cfg.download.checkpointMiB * 1024 * 1024,
    logger,
  });
  const daemon = new Daemon({
    platform,
    downloader,
    transport,
    store: o.store ?? agentStateStore(cfg.stateDir),
    requestStore: new FileStore(cfg.stateDir, 'requests.json'),
    clock: systemClock,
    device: o.device ?? new SystemDeviceInfo({ ...nonEmpty(cfg.device), deviceType, storagePath: cfg.stateDir }),
    ...(cfg.health.command.length > 0 ? { health: healthCommand(cfg.health.command, cfg.health.commandTimeoutSec * 1000) } : {}),
    ...(o.config ? { config: o.config } : {}),
    ...(o.restart ? { restart: o.restart } : {}),
    logger,
    newId: () => randomUUID(),
    options: {
      deviceId: cfg.deviceId,
      agentVersion: version,
      lifetimeSec: cfg.registration.lifetimeSec,
      progressIntervalMs: cfg.progressIntervalMs,
      healthConnectTimeoutMs: cfg.health.connectTimeoutSec * 1000,
      allowedUriSchemes: cfg.allowedUriSchemes,
      securityFloor: cfg.securityFloor,
      manualCommit: cfg.health.manual,
    },
  });
  return { daemon, transport, platform, deviceType };
}

function nonEmpty(d: AgentConfig['device']): { manufacturer?: string; model?: string; serial?: string; hardwareVersion?: string } {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(d)) if (v && k !== 'deviceType') out[k] = v;
  return out;
}
