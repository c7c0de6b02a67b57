// Stand-ins for the libgpiod tools (RAUC's test/bin pattern), for machines without a GPIO chip: each logs its argv as
// a JSON line; gpiodetect lists the chips given; gpioset prints its version for --version, else holds the line until
// SIGTERM (logging "released"), refusing a line another live gpioset holds as the character device does (EBUSY);
// gpiomon prints what is appended to the feed file, as edges in the -F %e format.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GpiodTools } from '../../agent/adapters/gpio-gpiod.js';

export interface FakeGpiod extends GpiodTools {
  /** the folder holding the tools (for PATH) */
  bin: string;
  /** one JSON line per run: [tool, ...argv], and "released" when a gpioset lets go */
  log: string;
  /** what gpiomon prints: append "1\n" for a rising edge */
  feed: string;
}

/**
 * Writes the tools into dir/bin. `suffix` is appended to their names ("-v1": several versions side by side; "": the
 * real names, to put first on PATH). gpiomon prints only what is appended after it started, like a real one.
 */
export async function fakeGpiodTools(dir: string, version: 1 | 2, opts: { suffix?: string; chips?: string[] } = {}): Promise<FakeGpiod> {
  const bin = join(dir, 'bin');
  await mkdir(bin, { recursive: true });
  const suffix = opts.suffix ?? `-v${version}`;
  const log = join(dir, `gpiod-v${version}.log`);
  const feed = join(dir, `gpiomon-v${version}.feed`);
  const locks = join(dir, 'line-locks');
  await mkdir(locks, { recursive: true });
  await writeFile(log, '');
  await writeFile(feed, '');
  const chips = opts.chips ?? ['gpiochip0 [pinctrl-rp1] (54 lines)', 'gpiochip10 [gpio-brcmstb@107d508500] (32 lines)'];
  const tool = async (name: string, body: string) => {
    const p = join(bin, `${name}${suffix}`);
    await writeFile(p, `#!${process.execPath}\nconst fs = require('fs');\nconst args = process.argv.slice(2);\n${body}\n`);
    await chmod(p, 0o755);
    return p;
  };
  const record = `fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify([require('path').basename(process.argv[1]), ...args]) + '\\n');`;
  const version$ = `if (args[0] === '--version') { console.log(require('path').basename(process.argv[1]).replace(/-.*/, '') + ' (libgpiod) v${version === 1 ? '1.6.3' : '2.1'}'); process.exit(0); }`;
  // the line is the last argument's offset (OFFSET=V); a lock file names the pid holding it
  // the SIGTERM handler is in place before the run is logged: a test that kills a holder it saw in the log always
  // gets "released" (killed between the two under load, it died silently: a CI timeout)
  const trap = `let owned = false;
process.on('SIGTERM', () => { if (owned) fs.rmSync(lock, { force: true }); fs.appendFileSync(${JSON.stringify(log)}, '"released"\\n'); process.exit(0); });`;
  const hold = `
let holder = 0;
try { holder = Number(fs.readFileSync(lock, 'utf8')); process.kill(holder, 0); } catch { holder = 0; }
if (holder) { console.error('gpioset: unable to request lines on chip /dev/gpiochip0: Device or resource busy'); process.exit(1); }
fs.writeFileSync(lock, String(process.pid));
owned = true;
setInterval(() => undefined, 1000);`;
  return {
    bin,
    log,
    feed,
    gpiodetect: await tool('gpiodetect', `${record}\n${chips.map((c) => `console.log(${JSON.stringify(c)});`).join('\n')}`),
    gpioset: await tool('gpioset', `${version$}\nconst lock = require('path').join(${JSON.stringify(locks)}, args[args.length - 1].split('=')[0]);\n${trap}\n${record}\n${hold}`),
    // logged once it knows where the feed ends: a test waits for the log line, then appends
    gpiomon: await tool('gpiomon', `${version$}\nlet at = fs.statSync(${JSON.stringify(feed)}).size;\n${record}\nsetInterval(() => { const t = fs.readFileSync(${JSON.stringify(feed)}, 'utf8'); process.stdout.write(t.slice(at)); at = t.length; }, 20);\nprocess.on('SIGTERM', () => process.exit(0));`),
  };
}
