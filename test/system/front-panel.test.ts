// The status LED and the reset button on a whole device: `fota sim run` (the real agent, the simulator platform) in a
// mount namespace of its own where /sys/class/gpio is a test folder with a stand-in kernel, so the agent drives the
// lines through onoff exactly as on a board. An update shows downloading, updating, idle on the LED (timed from the
// value file); a short press does nothing; a long press factory-resets through the same event as the hub's /3/0/5.
// Not proven here: onoff's interrupts (epoll cannot wait on a plain file; the button is read by polling instead).
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { appendFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubLink } from '../../hub/hub-link.js';
import { fakeGpioSysfs, type FakeSysfs } from '../helpers/fake-gpio-sysfs.js';
import { fakeGpiodTools, type FakeGpiod } from '../helpers/fake-gpiod-tools.js';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { startMosquitto, type Broker } from '../helpers/mosquitto.js';
import { agentPid, driveUpdate, makePackage, readFw, requireBuild, ROOT, startDevice, waitFor, workspace, type SimDevice, type Workspace } from '../helpers/sim-device.js';

const ID = 'panel-1';
// the Pi 4's header chip as kernel 6.6 numbers it: LED on line 4 = gpio516, button on line 5 = gpio517
const CHIP = { name: 'gpiochip512', label: 'pinctrl-bcm2711', base: 512, ngpio: 58 };
const LED = 'gpio516';
const BUTTON = 'gpio517';

let broker: Broker;
let ws: Workspace;
let link: HubLink;
let slow: FaultServer;
let sysfs: FakeSysfs;
let device: SimDevice;
let sampler: NodeJS.Timeout;
/** every level change of the LED's value file: [ms since epoch, lit] */
const led: [number, boolean][] = [];

type Log = { time: string; msg: string; [k: string]: unknown };
const logsOf = (d: SimDevice): Log[] =>
  d
    .output()
    .split('\n')
    .map((l) => l.replace(/^\[agent\] /, '')) // fota sim run prefixes its agent's lines
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Log);
const logs = () => logsOf(device);
const statuses = () => logs().filter((l) => l.msg === 'status LED').map((l) => ({ at: Date.parse(l.time), status: String(l.status) }));

/** The lit and dark stretches wholly inside [from, to): [duration ms, lit]. */
function runs(from: number, to: number): [number, boolean][] {
  const inside = led.filter(([t]) => t >= from && t < to);
  return inside.slice(1).map(([t], i) => [t - inside[i]![0], inside[i]![1]] as [number, boolean]);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const pressButton = (on: boolean) => writeFileSync(join(sysfs.root, BUTTON, 'value'), on ? '1\n' : '0\n');

beforeAll(async () => {
  requireBuild();
  broker = await startMosquitto();
  ws = await workspace();
  // 8 MiB at 2 MiB/s: about 4 s of downloading, several blinks of its pattern
  await makePackage(ws, '2.0.0', { size: '8M' });
  slow = await startFaultServer({ body: { file: join(ws.dir, 'fw-2.0.0.fota') } });
  slow.setFaults([{ on: 'every', throttle: 2 * 1024 * 1024 }]);
  link = await HubLink.connect({ url: broker.url, prefix: 'lwm2m' });
  const classDir = join(ws.dir, 'sys-class');
  sysfs = await fakeGpioSysfs(classDir, [CHIP]);
  let last: boolean | undefined;
  sampler = setInterval(() => {
    let lit: boolean;
    try {
      lit = readFileSync(join(sysfs.root, LED, 'value'), 'utf8').trim() === '1';
    } catch {
      return; // not exported (yet, or between two agent runs)
    }
    if (lit !== last) (last = lit), led.push([Date.now(), lit]);
  }, 5);
  device = startDevice(ws, ID, broker.url, {
    // a mount namespace where /sys/class is the test's folder: onoff's fixed /sys/class/gpio/ path lands there.
    // The script is fixed text; the folder and the command come in as its arguments ($0, "$@"), never spliced in.
    wrap: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /sys/class && exec "$@"', classDir],
    agentSet: ['gpio.led.line=4', 'gpio.button.line=5', 'gpio.button.activeLow=true', 'gpio.button.holdSec=2'],
  });
  await waitFor(`${ID} online`, 30_000, () => readFw(link, ID));
}, 120_000);

afterAll(async () => {
  clearInterval(sampler);
  await device?.stop();
  sysfs?.close();
  await link?.close();
  await slow?.close();
  await broker?.stop();
  await ws?.cleanup();
});

describe('front panel on a running agent (sysfs through onoff)', () => {
  it('a bad gpio key stops the agent at start: exit 78, naming the key', async () => {
    const shipped = JSON.parse(readFileSync(join(device.dir, 'agent.json'), 'utf8')) as Record<string, unknown>;
    for (const [gpio, message] of [
      [{ led: { line: 4 }, button: { line: 4 } }, /gpio\.button\.line: line 4 on the Raspberry Pi's header chip is also gpio\.led\.line/],
      [{ backend: 'wiringpi' }, /gpio\.backend: /],
      [{ button: { holdSec: 0 } }, /gpio\.button\.holdSec: /],
    ] as const) {
      const file = join(ws.dir, 'bad-gpio.json');
      writeFileSync(file, JSON.stringify({ ...shipped, gpio }));
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        execFile(process.execPath, [join(ROOT, 'bin/fota-agent.js'), '--config', file, '--check'], (e, _out, stderr) => resolve({ code: e ? (e.code as number) : 0, stderr }));
      });
      expect(r.code, r.stderr).toBe(78);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('drives the lines through onoff at their 6.6 numbers (base 512 + offset)', async () => {
    await waitFor('the front panel', 10_000, async () => logs().find((l) => l.msg === 'front panel'));
    expect(logs().find((l) => l.msg === 'front panel')).toMatchObject({ backend: 'sysfs (onoff)' });
    expect(readFileSync(join(sysfs.root, BUTTON, 'active_low'), 'utf8').trim()).toBe('1');
    expect(readFileSync(join(sysfs.root, LED, 'direction'), 'utf8').trim()).toBe('low'); // an output, starting off
  });

  it('the LED follows an update: downloading (500/500 ms), updating, then idle (a 100 ms blink every 3 s)', async () => {
    const fw = await driveUpdate(link, ID, slow.url('/fw-2.0.0.fota'), 90_000);
    expect(fw).toMatchObject({ version: '2.0.0', result: 1 });
    await new Promise((r) => setTimeout(r, 7_000)); // two idle periods after the commit
    const seen = statuses();
    const order = seen.map((s) => s.status).filter((s, i, a) => s !== a[i - 1]);
    // a downloaded package waiting for Update shows as idle: the LED says whether something is going on
    expect(order.slice(order.indexOf('downloading'))).toEqual(['downloading', 'idle', 'updating', 'idle']);
    const dl = seen.findIndex((s) => s.status === 'downloading');
    const dlRuns = runs(seen[dl]!.at, seen[dl + 1]!.at);
    expect(dlRuns.length).toBeGreaterThanOrEqual(3);
    // medians, and wide bounds: a loaded machine shifts single steps, not the pattern
    expect(median(dlRuns.filter(([, lit]) => lit).map(([d]) => d))).toBeGreaterThan(350);
    expect(median(dlRuns.filter(([, lit]) => lit).map(([d]) => d))).toBeLessThan(700);
    expect(median(dlRuns.filter(([, lit]) => !lit).map(([d]) => d))).toBeLessThan(700);
    const idleRuns = runs(seen.at(-1)!.at, Date.now());
    expect(idleRuns.filter(([, lit]) => lit).length).toBeGreaterThanOrEqual(1);
    expect(Math.max(...idleRuns.filter(([, lit]) => lit).map(([d]) => d))).toBeLessThan(350);
    expect(Math.min(...idleRuns.slice(1).filter(([, lit]) => !lit).map(([d]) => d))).toBeGreaterThan(2_000);
  }, 120_000);

  it('a short press does nothing; held 2 s, the button factory-resets through the same event as /3/0/5', async () => {
    const before = (await readFw(link, ID))!;
    expect(before).toMatchObject({ state: 0, version: '2.0.0' });
    const resets = () => logs().filter((l) => l.msg === 'transition' && l.event === 'factory-reset-executed');
    pressButton(true);
    await new Promise((r) => setTimeout(r, 600));
    pressButton(false);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(resets()).toEqual([]);
    expect(await readFw(link, ID)).toMatchObject({ state: 0, version: '2.0.0', attempt: before.attempt });

    pressButton(true);
    await waitFor('the reset to start', 15_000, async () => (resets().length > 0 ? true : undefined));
    try {
      pressButton(false);
    } catch {
      // the agent already went down for its reboot and released the line (unexported): let go anyway
    }
    const after = await waitFor('the factory firmware', 90_000, async () => {
      const fw = await readFw(link, ID);
      return fw && fw.state === 0 && fw.attempt !== before.attempt ? fw : undefined;
    });
    // the factory image runs, committed; the agent came back with the shipped configuration and a fresh Object 5
    expect(after).toMatchObject({ state: 0, version: '1.0.0', result: 0 });
    expect(resets()).toHaveLength(1);
    expect(logs().find((l) => l.msg.startsWith('reset button held'))).toMatchObject({ msg: 'reset button held 2 s: factory reset started', version: '1.0.0' });
    const since = statuses().filter((s) => s.at >= Date.parse(resets()[0]!.time)).map((s) => s.status);
    expect(since).toContain('updating');
    expect(since.at(-1)).toBe('idle');
  }, 120_000);
});

describe('front panel through the libgpiod tools (v2), across an agent restart', () => {
  let gpiod: FakeGpiod;
  let dev: SimDevice;
  /** the pids of live processes run from the fake tools' folder (started by this test, so killed by it) */
  const holders = async (tool: string) => {
    const pids: number[] = [];
    for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmd.split('\0').includes(join(gpiod.bin, tool))) pids.push(Number(pid));
    }
    return pids;
  };

  beforeAll(async () => {
    gpiod = await fakeGpiodTools(join(ws.dir, 'gpiod'), 2, { suffix: '', chips: ['gpiochip0 [pinctrl-bcm2711] (58 lines)'] });
    dev = startDevice(ws, 'panel-2', broker.url, {
      env: { PATH: `${gpiod.bin}:${process.env.PATH ?? ''}` },
      agentSet: ['gpio.backend="gpiod"', 'gpio.led.line=4', 'gpio.button.line=5', 'gpio.button.holdSec=2'],
    });
    await waitFor('panel-2 online', 30_000, () => readFw(link, 'panel-2'));
  }, 60_000);

  afterAll(async () => {
    await dev?.stop();
    for (const pid of [...(await holders('gpioset')), ...(await holders('gpiomon'))]) process.kill(pid, 'SIGKILL');
  });

  it('a held button factory-resets; the restarted agent finds its LED line free (the old gpioset was ended)', async () => {
    const devLogs = () => logsOf(dev);
    await waitFor('the front panel', 10_000, async () => devLogs().find((l) => l.msg === 'front panel'));
    expect(devLogs().find((l) => l.msg === 'front panel')).toMatchObject({ backend: 'gpiod v2' });
    // gpiomon logs its argv once it knows where the feed ends: only then is an edge appended
    await waitFor('gpiomon', 10_000, async () => (readFileSync(gpiod.log, 'utf8').includes('["gpiomon"') ? true : undefined));
    await appendFile(gpiod.feed, '1\n'); // pressed (a rising edge of the logical value)
    await waitFor('the reset', 15_000, async () => (devLogs().some((l) => l.msg === 'transition' && l.event === 'factory-reset-executed') ? true : undefined));
    await appendFile(gpiod.feed, '2\n');
    await waitFor('the factory firmware', 90_000, async () => {
      const fw = await readFw(link, 'panel-2');
      return fw?.state === 0 && fw.version === '1.0.0' ? fw : undefined;
    });
    // the agent restarted after the reset (shipped configuration): its panel opened again and blinks
    await waitFor('the second front panel', 20_000, async () => (devLogs().filter((l) => l.msg === 'front panel').length >= 2 ? true : undefined));
    const runs = () => readFileSync(gpiod.log, 'utf8').split('\n').filter((l) => l.startsWith('["gpioset"')).length;
    const before = runs();
    await waitFor('the LED blinking on', 10_000, async () => (runs() >= before + 2 ? true : undefined));
    await new Promise((r) => setTimeout(r, 3_500)); // a whole idle period: each step a gpioset of its own
    expect(devLogs().filter((l) => l.msg === 'the status LED failed; it stays off')).toEqual([]);
    // every tool still running belongs to the agent running now: none was left behind by the one before the restart
    const agent = await agentPid(dev);
    const parent = async (pid: number) => Number((await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /s, '').split(' ')[1]);
    for (const pid of [...(await holders('gpioset')), ...(await holders('gpiomon'))]) expect(await parent(pid)).toBe(agent);
    expect((await holders('gpiomon')).length).toBe(1);
  }, 150_000);
});
