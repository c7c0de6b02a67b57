// The `fota` CLI tried as a new user would, as real processes (the built bin/fota.js): private keys are never
// served nor trusted, a user's mistake is one line without a stack trace, help works where the overview suggests
// it, a broker address without a scheme and option typos get a clear answer, a hub that cannot start exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/mosquitto.js';
import { FOTA, fota, makePackage, requireBuild, workspace, type Workspace } from '../helpers/sim-device.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const children: ChildProcess[] = [];
let ws: Workspace;
let tmp: string;

function run(args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FOTA, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running `fota …` and resolves once `ready` shows up on stderr. */
function start(args: string[], ready: RegExp): Promise<{ child: ChildProcess; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FOTA, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let err = '';
    child.stdout.resume();
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (ready.test(err)) resolve({ child, stderr: () => err });
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
}

function occupy(port: number): Promise<Server> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

const noStack = (r: Run) => expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);

beforeAll(async () => {
  requireBuild();
  ws = await workspace();
  tmp = await mkdtemp(join(tmpdir(), 'fota-first-hour-'));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await ws?.cleanup();
  await rm(tmp, { recursive: true, force: true });
});

describe('private keys', () => {
  it('fota serve never serves a private key, whatever its name, nor a symlink out of the folder, and warns', async () => {
    const dir = join(tmp, 'served');
    await mkdir(dir);
    const pkg = await makePackage(ws, '2.0.0');
    await fota(['pack', '--image', pkg.replace(/\.fota$/, '.img'), '--version', '2.0.0', '--device-type', 'fota-sim', '--key', ws.key, '-o', join(dir, 'fw.fota')]);
    await fota(['keygen', '-o', join(dir, 'release')]);
    const { privateKey } = generateKeyPairSync('ed25519');
    await writeFile(join(dir, 'notes.txt'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(join(dir, 'blob.bin'), privateKey.export({ type: 'pkcs8', format: 'der' }));
    await writeFile(join(tmp, 'outside.txt'), 'secret outside the served folder\n');
    await symlink(join(tmp, 'outside.txt'), join(dir, 'link.txt'));
    const port = await freePort();
    const srv = await start(['serve', '--dir', dir, '--listen', `127.0.0.1:${port}`], /Ctrl-C stops/);
    for (const f of ['release.key', 'notes.txt', 'blob.bin']) expect(srv.stderr()).toMatch(new RegExp(`warning: .*${f.replace('.', '\\.')} will not be served`));
    const get = (p: string) => fetch(`http://127.0.0.1:${port}/${p}`).then(async (r) => ({ status: r.status, body: Buffer.from(await r.arrayBuffer()) }));
    for (const p of ['release.key', 'notes.txt', 'blob.bin', 'link.txt', '..%2Foutside.txt']) expect((await get(p)).status, p).toBe(404);
    expect((await get('release.pub')).status).toBe(200);
    const fw = await get('fw.fota');
    expect(fw.status).toBe(200);
    expect(fw.body.length).toBeGreaterThan(1024 * 1024);
    expect(srv.stderr()).toMatch(/warning: refused \/release\.key/);
    srv.child.kill('SIGTERM');
  });

  it('inspect --trust and sim run --trust refuse a private key', async () => {
    const pkg = await makePackage(ws, '2.0.1');
    const inspect = await run(['inspect', pkg, '--trust', ws.key]);
    expect(inspect.code).toBe(1);
    expect(inspect.stderr).toMatch(/release\.key is a PRIVATE key; give its public half/);
    const sim = await run(['sim', 'run', '--dir', join(tmp, 'dev-private'), '--id', 'dev-private', '--trust', ws.key]);
    expect(sim.code).toBe(2);
    expect(sim.stderr).toMatch(/--trust .*release\.key is a PRIVATE key/);
  });
});

describe("a user's mistakes are one line, without a stack trace", () => {
  it('an output path in a folder that does not exist (ENOENT)', async () => {
    const r = await run(['sim', 'image', '--version', '1.0.0', '--size', '4K', '-o', '/nonexistent/x.img']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^fota sim image: cannot open \/nonexistent\/x\.img: no such file or directory\n$/);
  });

  it('fota serve on a port in use (EADDRINUSE), and a --dir that does not exist', async () => {
    const port = await freePort();
    const busy = await occupy(port);
    try {
      const r = await run(['serve', '--dir', tmp, '--listen', `127.0.0.1:${port}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use`));
      expect(r.stderr).toMatch(/choose another --listen/);
      noStack(r);
    } finally {
      busy.close();
    }
    const missing = await run(['serve', '--dir', join(tmp, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--dir .*nope is not a directory/);
  });

  it('fota hub whose MQTT port is taken says so and exits non-zero (it used to hang)', async () => {
    const port = await freePort();
    const busy = await occupy(port);
    try {
      const r = await run(['hub', '--db', join(tmp, 'hub.db'), '--mqtt-listen', `127.0.0.1:${port}`, '--listen', '127.0.0.1:0'], { timeoutMs: 15_000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use`));
    } finally {
      busy.close();
    }
  });

  it('a broker address without a scheme is refused with the URL to write instead', async () => {
    for (const args of [['device', 'list', '--broker', 'localhost:1883'], ['sim', 'run', '--dir', join(tmp, 'dev-b'), '--id', 'b', '--allow-unsigned', '--broker', 'localhost:1883']]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/--broker "localhost:1883" is not an MQTT URL/);
      expect(r.stderr).toMatch(/mqtt:\/\/localhost:1883 \(plain\) or mqtts:\/\/localhost:8883 \(TLS\)/);
    }
    const env = await run(['device', 'list'], { env: { FOTA_BROKER: '127.0.0.1:1883' } });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/\$FOTA_BROKER "127\.0\.0\.1:1883" is not an MQTT URL/);
  });

  it('option and command typos get the closest name', async () => {
    const opt = await run(['pack', '--imgae', 'x.img']);
    expect(opt.code).toBe(2);
    expect(opt.stderr).toMatch(/^fota pack: unknown option --imgae; did you mean --image\?/);
    expect((await run(['pack', '--image'])).stderr).toMatch(/--image needs a value/);
    expect((await run(['hbu'])).stderr).toMatch(/unknown command "hbu"; did you mean fota hub\?/);
    expect((await run(['job', 'lsit'])).stderr).toMatch(/unknown job command "lsit"; did you mean list\?/);
  });
});

describe('help in every position the overview suggests', () => {
  it('fota device read|write|exec|observe --help, with or without a device id', async () => {
    for (const verb of ['read', 'write', 'exec', 'observe']) {
      for (const args of [['device', verb, '--help'], ['device', 'dev1', verb, '--help']]) {
        const r = await run(args);
        expect(r.code, args.join(' ')).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`^Usage: fota device ID ${verb} PATH`));
      }
    }
  });

  it('fota device dev1 with no operation says what is missing', async () => {
    const r = await run(['device', 'dev1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/what should "fota device dev1" do\? give an operation: read, write, exec, observe/);
    const early = await run(['device', 'read', '/3/0/3']);
    expect(early.code).toBe(2);
    expect(early.stderr).toMatch(/"read" comes after the device id: fota device ID read PATH/);
  });
});

describe('shell completion', () => {
  /** Completes `line` (the last word is being typed; a trailing space starts a new word) in a real bash. */
  async function bashComplete(script: string, line: string): Promise<string[]> {
    const file = join(tmp, 'fota.bash');
    await writeFile(file, script);
    const program = `source ${file}; read -ra W <<< "$LINE"; [[ "$LINE" == *" " ]] && W+=(""); COMP_WORDS=("\${W[@]}"); COMP_CWORD=$(( \${#W[@]} - 1 )); _fota; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn('bash', ['--norc', '--noprofile', '-c', program], { env: { ...process.env, LINE: line }, cwd: tmp });
      let o = '';
      child.stdout.on('data', (d: Buffer) => (o += d.toString()));
      child.once('exit', (code) => (code === 0 ? resolve(o) : reject(new Error(`bash exited ${code}`))));
    });
    return out.split('\n').filter(Boolean);
  }

  it('fota completion bash completes commands, subcommands, the device verbs after an id, options and files', async () => {
    const script = (await run(['completion', 'bash'])).stdout;
    expect(await bashComplete(script, 'fota s')).toEqual(['serve', 'sim']);
    expect(await bashComplete(script, 'fota sim i')).toEqual(['image']);
    expect(await bashComplete(script, 'fota device dev1 ob')).toEqual(['observe']);
    expect(await bashComplete(script, 'fota device l')).toEqual(['list']);
    expect(await bashComplete(script, 'fota pack --im')).toEqual(['--image']);
    expect(await bashComplete(script, 'fota job firmware-update --')).toEqual(expect.arrayContaining(['--package', '--devices', '--wait', '--json', '--help']));
    expect(await bashComplete(script, 'fota completion ')).toEqual(['bash', 'zsh']);
    await writeFile(join(tmp, 'fw-9.img'), '');
    expect(await bashComplete(script, 'fota sim image -o fw-')).toEqual(['fw-9.img']);
  });

  it('fota completion zsh runs in a real zsh: the same candidates through compadd, files otherwise', async () => {
    const file = join(tmp, '_fota');
    await writeFile(file, (await run(['completion', 'zsh'])).stdout);
    // compadd and _files only exist inside zsh's completion widgets: stand-ins print what they were given
    const complete = (...words: string[]) =>
      new Promise<string>((resolve) => {
        const program = `compadd() { [[ $1 == -a ]] && print -l -- \${(P)2} }; _files() { print FILES }; source ${file}; words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; _fota`;
        const child = spawn('zsh', ['-f', '-c', program]);
        let o = '';
        child.stdout.on('data', (d: Buffer) => (o += d.toString()));
        child.once('exit', () => resolve(o.trim()));
      });
    expect(await complete('fota', 'device', 'dev1', 'ob')).toBe('read\nwrite\nexec\nobserve');
    expect((await complete('fota', 'pack', '--im')).split('\n')).toContain('--image');
    expect(await complete('fota', 'sim', 'image', '-o', 'fw')).toBe('FILES');
  });
});

describe('fota hub logs', () => {
  it('every line has a level, and under journald its syslog priority prefix', async () => {
    const { open, readFile, stat } = await import('node:fs/promises');
    const logFile = join(tmp, 'hub-journal.log');
    const fh = await open(logFile, 'w');
    const st = await stat(logFile);
    // stdout is "the journal": JOURNAL_STREAM names its device and inode, as systemd does (systemd.exec(5))
    const child = spawn(process.execPath, [FOTA, 'hub', '--db', join(tmp, 'journal.db'), '--mqtt-listen', '127.0.0.1:0', '--listen', '127.0.0.1:0'], {
      stdio: ['ignore', fh.fd, 'pipe'],
      env: { ...process.env, JOURNAL_STREAM: `${st.dev}:${st.ino}` },
    });
    children.push(child);
    let err = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (/Ctrl-C stops/.test(err)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`hub exited ${code}: ${err}`)));
    });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    await fh.close();
    const lines = (await readFile(logFile, 'utf8')).split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const m = /^<([36])>(\{.*\})$/.exec(line);
      expect(m, line).not.toBeNull();
      const rec = JSON.parse(m![2]!) as { level: string; component: string };
      expect(rec.component).toBe('fota-hub');
      expect(rec.level).toBe(m![1] === '3' ? 'error' : 'info');
    }
  });
});
