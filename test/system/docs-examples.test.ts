// Every shell example of README.md and docs/*.md (fenced sh/bash/shell/console blocks), so the docs cannot drift:
// each block is checked (every `fota …` line names a real command with real options, every `npm run X` a real
// script), then run verbatim in a private machine (test/helpers/netns-sandbox.ts: own loopback, own /tmp) — one per
// file, blocks in order — or skipped for a reason this test checks. Directives, as HTML comments right above a fence:
//   <!-- doc-test: stepwise -->                  each command alone, retried until it succeeds (60 s), as a person
//                                                would; a trailing "# prints X" must then be exactly its output
//   <!-- doc-test: background /REGEX/ -->        the block keeps running (a server): wait until its output matches
//   <!-- doc-test: setup: COMMAND -->            runs COMMAND first (a file the example assumes exists)
//   <!-- doc-test: setup-background /REGEX/: COMMAND -->   starts COMMAND first and keeps it running (a server)
//   <!-- doc-test: env NAME=VALUE … -->          environment for this and the later blocks of the file
//   <!-- doc-test: cwd DIR -->                   working directory (created) for this and the later blocks
//   <!-- doc-test: skip KIND [ARG]: why -->      not run; KIND is checked (see SKIPS)
// No directive: the block runs as one bash script (set -euo pipefail) and must exit 0.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_COMMANDS } from '../../agent/cli-commands.js';
import { parseFor } from '../../cli/command.js';
import { findCommand } from '../../cli/commands/index.js';
import { listQuery } from '../../cli/job-args.js';
import { commands, docFiles, shellBlocks, words, type DocBlock } from '../helpers/doc-blocks.js';
import { openSandbox, type Sandbox } from '../helpers/netns-sandbox.js';
import { requireBuild, ROOT } from '../helpers/sim-device.js';

const SCRIPTS = new Set(Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts));
const NPM_BUILTINS = new Set(['ci', 'install', 'i', 'test', 't', 'link', 'run', 'exec', 'pack', 'start']);

/** Why a block may be skipped, and how this test checks that the reason holds for the block. */
const SKIPS: Record<string, (b: DocBlock, arg: string) => string | undefined> = {
  'covered-by': (_b, arg) => (arg && existsSync(join(ROOT, arg)) ? undefined : `covered-by names no existing file ("${arg}")`),
  'needs-board': (b) => (/\bfota-agent\b|install\.sh|fw_printenv|fw_setenv|\/opt\/fota|systemctl|\/dev\//.test(b.text) ? undefined : 'the block names no board-only command (fota-agent, install.sh, fw_printenv, /opt/fota, systemctl, /dev/…)'),
  placeholders: (b) => (/\b(ID|DIR|URL|FILE|KEY|SLOT|HOST|PID|NAME)\b|<[^>\n]+>|…/.test(b.text) ? undefined : 'the block has no placeholder (ID, DIR, URL, <…>, …)'),
  'example-hosts': (b) => (/\b[\w.-]+\.(example(\.com|\.org)?|lan|local)\b|\b10\.\d+\.\d+\.\d+\b/.test(b.text) ? undefined : 'the block names no example host (*.example, *.lan, *.local, 10.x.x.x)'),
  'writes-system': (b) => (/(^|[\s>=])\/(etc|var|opt)\//m.test(b.text) ? undefined : 'the block writes nothing under /etc, /var or /opt'),
  recursive: (b) => (/\bnpm (run )?test\b/.test(b.text) ? undefined : 'the block does not run the test suite'),
  long: (b) => (commands(b.text).every((c) => /\bnpm run (bench|test:hil)|\bnode bench\/|^[A-Z_]+=.*\bnpm run/.test(c.command) || /^(mkdir|sed|printf)\b/.test(c.command)) ? undefined : 'the block runs more than benchmarks or hardware-in-the-loop suites'),
};

interface Plan {
  mode: 'script' | 'stepwise' | 'background' | 'skip';
  ready?: RegExp;
  setup: string[];
  setupBackground: { ready: RegExp; command: string }[];
  env: Record<string, string>;
  cwd?: string;
  skip?: { kind: string; arg: string; why: string };
}

/** Reads a block's directives; `file` carries env and cwd from earlier blocks of the same file. */
function plan(b: DocBlock, file: { env: Record<string, string>; cwd?: string }): Plan {
  const p: Plan = { mode: 'script', setup: [], setupBackground: [], env: file.env };
  for (const d of b.directives) {
    let m: RegExpExecArray | null;
    if (d === 'stepwise') p.mode = 'stepwise';
    else if ((m = /^background\s+\/(.+)\/$/.exec(d))) Object.assign(p, { mode: 'background', ready: new RegExp(m[1]!) });
    else if ((m = /^setup:\s*(.+)$/.exec(d))) p.setup.push(m[1]!);
    else if ((m = /^setup-background\s+\/(.+)\/:\s*(.+)$/.exec(d))) p.setupBackground.push({ ready: new RegExp(m[1]!), command: m[2]! });
    else if ((m = /^env\s+(.+)$/.exec(d))) for (const kv of m[1]!.split(/\s+/)) file.env[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
    else if ((m = /^cwd\s+(\S+)$/.exec(d))) file.cwd = m[1]!;
    else if ((m = /^skip\s+([\w-]+)(?:\s+([^:]+?))?\s*:\s*(.+)$/.exec(d))) Object.assign(p, { mode: 'skip', skip: { kind: m[1]!, arg: m[2] ?? '', why: m[3]! } });
    else throw new Error(`${b.file}:${b.line}: unknown doc-test directive "${d}"`);
  }
  if (file.cwd) p.cwd = file.cwd;
  return p;
}

/** Problems of the commands a block names: unknown fota commands or options, npm scripts that do not exist. */
function staticProblems(b: DocBlock): string[] {
  const problems: string[] = [];
  for (const { command } of commands(b.text)) {
    for (const segment of command.split(/\s*(?:&&|\|\||;|\|)\s*/)) {
      const w = words(segment.replace(/\s*&$/, '')).filter((x) => x !== '&');
      while (w.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(w[0]!)) w.shift();
      if (w[0] === 'npx' && w[1] === 'fota') w.shift();
      const [head, ...args] = w;
      if (head === 'fota' && args.length > 0 && !['--help', '-h', '--version'].includes(args[0]!)) {
        const found = findCommand(args);
        if (!found) problems.push(`"${segment}": no such fota command`);
        else
          try {
            const parsed = parseFor(found.cmd, found.rest);
            // the checks a command makes before any request: a --filter that the CLI refuses is a wrong doc too
            if (found.cmd.name === 'job list') listQuery(parsed);
          } catch (e) {
            problems.push(`"${segment}": ${(e as Error).message}`);
          }
      }
      if (head === 'fota-agent') {
        const rest = args.filter((a, i) => a !== '--config' && args[i - 1] !== '--config');
        const name = rest[0];
        if (name !== undefined && !name.startsWith('-')) {
          const spec = AGENT_COMMANDS[name];
          if (!spec) problems.push(`"${segment}": no such fota-agent command`);
          else for (const o of rest.filter((a) => a.startsWith('--'))) if (!(o.slice(2) in spec.options) && o !== '--help') problems.push(`"${segment}": fota-agent ${name} has no option ${o}`);
        }
      }
      if (head === 'npm') {
        const sub = args[0] ?? '';
        if (sub === 'run' && !SCRIPTS.has(args[1] ?? '')) problems.push(`"${segment}": package.json has no script "${args[1]}"`);
        else if (sub !== 'run' && !NPM_BUILTINS.has(sub) && !SCRIPTS.has(sub)) problems.push(`"${segment}": unknown npm command "${sub}"`);
      }
    }
  }
  return problems;
}

/** "prints X" in a trailing comment: the exact output expected (the first word after "prints"). */
function expectedOutput(comment: string): string | undefined {
  return /^prints\s+(\S+)/.exec(comment)?.[1];
}

async function stepwise(sb: Sandbox, b: DocBlock, p: Plan): Promise<void> {
  for (const { command, comment } of commands(b.text)) {
    const opts = { env: p.env, ...(p.cwd ? { cwd: p.cwd } : {}) };
    if (/&$/.test(command)) {
      const r = await sb.run(command, { ...opts, timeoutMs: 30_000 });
      expect(r.code, `${b.file}:${b.line}: ${command}\n${r.stderr}`).toBe(0);
      continue;
    }
    const want = expectedOutput(comment);
    const end = Date.now() + 60_000;
    for (;;) {
      const r = await sb.run(command, { ...opts, timeoutMs: 60_000 });
      const ok = r.code === 0 && (want === undefined || r.stdout.trim() === want);
      if (ok) break;
      if (Date.now() > end) throw new Error(`${b.file}:${b.line}: "${command}" did not ${want ? `print ${want}` : 'succeed'} within 60 s (exit ${r.code}):\n${r.stdout}${r.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

beforeAll(() => requireBuild());

for (const file of docFiles(ROOT)) {
  const blocks = shellBlocks(ROOT, file);
  if (blocks.length === 0) continue;
  describe(`${file}: its shell examples`, () => {
    let sb: Sandbox | undefined;
    const state: { env: Record<string, string>; cwd?: string } = { env: {} };
    const sandbox = async () =>
      (sb ??= await openSandbox({
        cwd: ROOT,
        bin: { fota: join(ROOT, 'bin/fota.js'), 'fota-agent': join(ROOT, 'bin/fota-agent.js') },
        // the examples use the documented defaults, not this machine's settings; npm stays off the network
        unset: ['FOTA_BROKER', 'FOTA_HUB', 'FOTA_HUB_TOKEN', 'FOTA_BROKER_PASSWORD', 'FOTA_AGENT_CONFIG'],
        env: { NO_UPDATE_NOTIFIER: '1', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', npm_config_offline: 'true' },
      }));
    afterAll(async () => {
      await sb?.close();
    });
    for (const b of blocks) {
      it(`${file}:${b.line}`, async () => {
        const p = plan(b, state);
        expect(staticProblems(b), `${file}:${b.line} names commands that do not exist`).toEqual([]);
        if (p.mode === 'skip') {
          const s = p.skip!;
          const check = SKIPS[s.kind];
          expect(check, `${file}:${b.line}: unknown skip kind "${s.kind}" (known: ${Object.keys(SKIPS).join(', ')})`).toBeDefined();
          expect(check!(b, s.arg), `${file}:${b.line}: skip ${s.kind}`).toBeUndefined();
          expect(s.why.length, `${file}:${b.line}: a skip says why`).toBeGreaterThan(10);
          return;
        }
        const box = await sandbox();
        const opts = { env: p.env, ...(p.cwd ? { cwd: p.cwd } : {}) };
        if (p.cwd) await box.run(`mkdir -p '${p.cwd}'`);
        for (const s of p.setupBackground) await box.background(s.command, s.ready, opts);
        for (const s of p.setup) {
          const r = await box.run(s, opts);
          expect(r.code, `${file}:${b.line}: setup "${s}" failed:\n${r.stdout}${r.stderr}`).toBe(0);
        }
        if (p.mode === 'background') await box.background(b.text, p.ready!, opts);
        else if (p.mode === 'stepwise') await stepwise(box, b, p);
        else {
          const r = await box.run(b.text, { ...opts, timeoutMs: 240_000 });
          expect(r.code, `${file}:${b.line} failed:\n${b.text}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(0);
        }
      }, 300_000);
    }
  });
}
