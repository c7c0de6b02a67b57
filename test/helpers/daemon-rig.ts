// A Daemon wired to the small fakes of fakes.ts, with a `call` that sends a request and waits for its answer.
// Shared by the daemon's unit tests; pass `shared` to start a second daemon on the same device and store (a restart).
import { Daemon, type DaemonOptions } from '../../agent/core/daemon.js';
import { FakeClock, FakeDownloader, FakePlatform, FakeTransport, MemoryStore, fakeDevice, memoryLogger } from './fakes.js';

export function rig(shared?: { platform: FakePlatform; store: MemoryStore }, options: Partial<DaemonOptions> = {}) {
  const platform = shared?.platform ?? new FakePlatform();
  const store = shared?.store ?? new MemoryStore();
  const transport = new FakeTransport();
  const downloader = new FakeDownloader();
  const logger = memoryLogger();
  const clock = new FakeClock();
  // the request ids acted on (request-log.ts)
  const requests = new MemoryStore();
  let n = 0;
  const daemon = new Daemon({
    platform,
    downloader,
    transport,
    store,
    requestStore: requests,
    clock,
    device: fakeDevice,
    logger,
    newId: () => `id${++n}`,
    options: { deviceId: 'dev1', agentVersion: '0.1.0', lifetimeSec: 300, progressIntervalMs: 0, healthConnectTimeoutMs: 50, ...options },
  });
  let req = 0;
  const call = async (op: string, path: string, extra: Record<string, unknown> = {}) => {
    const id = `r${++req}`;
    transport.send({ id, op, path, ...extra } as never);
    return transport.response(id);
  };
  return { platform, store, requests, transport, downloader, logger, clock, daemon, call };
}
