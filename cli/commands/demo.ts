// `fota demo` (`npm run demo`): the one-command fleet firmware update on this machine.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDemo } from '../demo/demo.js';
import { CliError, EXIT, parseDuration, parseSize, str, usageError, type Command } from '../command.js';

function findFotaBin(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'bin', 'fota.js');
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new CliError('cannot find bin/fota.js next to this fota installation', EXIT.failure);
    dir = up;
  }
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run a whole fleet update on this machine (hub, broker, package server, simulated devices)',
  usage: `Usage: fota demo [--devices N] [--broken K] [--size SIZE] [--timeout DURATION] [--keep]

Reproduces a fleet firmware update on one machine, with no setup and no external services: starts the hub with
its embedded MQTT broker, an HTTP package server and N simulated devices (real fota-agent processes on the
simulator platform, starting on firmware 1.0.0 or 2.0.0 at random), builds and signs a 3.0.0 package, schedules one
firmware-update job for all devices (1 parent + N children), prints the running jobs every second, and lists every
job at the end. Everything it started is stopped at the end, and on Ctrl-C.

Options:
  --devices N        number of simulated devices (default 6)
  --broken K         K devices are served a 3.0.0 image that never boots: they roll back (default 0)
  --size SIZE        firmware image size (default 16M)
  --timeout D        per-device job timeout (default 5m)
  --keep             keep the work directory (device folders, agent logs, hub.db) and print where it is

Example:
  fota demo --devices 6 --broken 2`,
  options: { devices: { type: 'string' }, broken: { type: 'string' }, size: { type: 'string' }, timeout: { type: 'string' }, keep: { type: 'boolean' } },
  async run(args) {
    const devices = Number(str(args.values.devices) ?? '6');
    const broken = Number(str(args.values.broken) ?? '0');
    if (!Number.isInteger(devices) || devices < 1 || devices > 200) throw usageError('--devices must be a whole number from 1 to 200');
    if (!Number.isInteger(broken) || broken < 0 || broken > devices) throw usageError(`--broken must be a whole number from 0 to ${devices}`);
    const size = parseSize(str(args.values.size) ?? '16M', '--size');
    if (size < 4096 || size > 4 * 1024 ** 3) throw usageError('--size must be from 4K to 4G');
    const timeoutSeconds = parseDuration(str(args.values.timeout) ?? '5m', '--timeout');
    try {
      return await runDemo({ devices, broken, size, keep: args.values.keep === true, fotaBin: findFotaBin(), timeoutSeconds, say: (l) => console.log(l), tty: process.stdout.isTTY === true });
    } catch (e) {
      if (e instanceof CliError) throw e;
      throw new CliError((e as Error).message, EXIT.failure);
    }
  },
};
