// A real sd_notify endpoint for tests: an AF_UNIX datagram socket bound by a small Python 3 process (Node cannot
// bind one), reading what systemd-notify sends as PID 1 would: the fields, the sender's credentials
// (SO_PASSCRED), and the barrier file descriptors, which it closes so that systemd-notify's barrier returns.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const RECEIVER = `
import array, json, os, socket, struct, sys, time
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({"bound": path}), flush=True)
while True:
    data, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(16 * 4))
    pid = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid, uid, gid = struct.unpack("iII", payload[:12])
        elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i"); fds.frombytes(payload[: len(payload) - len(payload) % 4])
            for fd in fds: os.close(fd)
    fields = dict(l.split("=", 1) for l in data.decode().split("\\n") if "=" in l)
    if fields == {"BARRIER": "1"}: continue  # sd_notify_barrier: the fd closed above is the answer
    print(json.dumps({"pid": pid, "fields": fields, "at": time.monotonic_ns() / 1e6}), flush=True)
`;

/** CLOCK_MONOTONIC in ms, the receiver's clock (libuv's hrtime reads the same clock) */
export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export interface NotifyMessage {
  /** the sender as the kernel reports it (what PID 1 would attribute the message to) */
  pid: number | null;
  fields: Record<string, string>;
  /** when it arrived, CLOCK_MONOTONIC in ms (compare with monotonicMs(): the test's event loop may be blocked) */
  at: number;
}

export interface NotifySocket {
  /** the value for $NOTIFY_SOCKET */
  path: string;
  messages: NotifyMessage[];
  /** resolves with the first message (from index `from`) whose fields match */
  next(pred: (m: NotifyMessage) => boolean, ms?: number, from?: number): Promise<NotifyMessage>;
  stop(): Promise<void>;
}

export async function startNotifySocket(): Promise<NotifySocket> {
  const dir = await mkdtemp(join(tmpdir(), 'fota-notify-'));
  const path = join(dir, 'notify');
  const child = spawn('python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: NotifyMessage[] = [];
  const waiters = new Set<() => void>();
  const bound = new Promise<void>((resolve, reject) => {
    child.once('error', (e) => reject(new Error(`cannot start python3 for the notify socket: ${e.message}`)));
    child.once('exit', (code) => reject(new Error(`the notify socket receiver exited (${code})`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as { bound?: string; pid?: number | null; fields?: Record<string, string>; at?: number };
      if (m.bound) return resolve();
      messages.push({ pid: m.pid ?? null, fields: m.fields ?? {}, at: m.at ?? 0 });
      for (const w of waiters) w();
    });
  });
  await bound;
  return {
    path,
    messages,
    next: (pred, ms = 10_000, from = 0) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const hit = messages.slice(from).find(pred);
          if (!hit) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching sd_notify message within ${ms} ms; got ${JSON.stringify(messages.map((m) => m.fields))}`));
        }, ms);
        waiters.add(check);
        check();
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await gone;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
