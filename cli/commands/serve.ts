// `fota serve`: serves a directory of packages over HTTP with byte ranges (resumable downloads) for a lab.

import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { startPackageServer } from '../../hub/package-server.js';
import { EXIT, requireOpt, str, usageError, type Command } from '../command.js';
import { parseHostPort } from './hub.js';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve a directory of packages over HTTP (with Range, for resumable downloads)',
  usage: `Usage: fota serve --dir DIR [--listen HOST:PORT]

Serves the files in DIR over HTTP with byte ranges and ETags, so agents can resume interrupted downloads.
Never serves a private key (a *.key file, or any file that parses as one): it warns and answers 404. Keep the
signing key in another folder; only packages belong here.
Meant for labs and the walkthrough; production fleets serve packages from their own web server or CDN.

Options:
  --dir DIR            directory to serve
  --listen HOST:PORT   address (default 127.0.0.1:8080; 0.0.0.0:8080 for devices on other hosts)

Example:
  fota serve --dir ./packages --listen 0.0.0.0:8080`,
  options: { dir: { type: 'string' }, listen: { type: 'string' } },
  async run(args) {
    const dir = resolve(requireOpt(args, 'dir'));
    const at = parseHostPort(str(args.values.listen) ?? '127.0.0.1:8080', '--listen');
    const st = await stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw usageError(`--dir ${dir} is not a directory`);
    const srv = await startPackageServer({
      dir,
      ...at,
      log: (l) => console.log(`${new Date().toISOString()} ${l}`),
      // private keys are never served; say so loudly, once per file at start and at each refused request
      warn: (l) => console.error(`fota serve: warning: ${l}`),
    });
    console.error(`fota serve: ${dir} at ${srv.url}/ ; Ctrl-C stops`);
    await new Promise<void>((ok) => {
      process.once('SIGINT', ok);
      process.once('SIGTERM', ok);
    });
    await srv.close();
    return EXIT.ok;
  },
};
