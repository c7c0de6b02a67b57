// The shell examples of the documentation: every fenced block tagged sh, bash, shell or console in README.md and
// docs/*.md (``` or ~~~ fences, indented or not), with the `<!-- doc-test: … -->` directives written right above it
// (test/system/docs-examples.test.ts says what they mean). Pure text handling: no IO beyond reading the files.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'console', 'zsh']);

export interface DocBlock {
  /** repository-relative path */
  file: string;
  /** 1-based line of the opening fence */
  line: number;
  lang: string;
  text: string;
  /** the directives above the fence, in order ("stepwise", "background …", "skip …", "env …", "setup …") */
  directives: string[];
}

/** README.md and docs/*.md (sorted), relative to `root`. */
export function docFiles(root: string): string[] {
  const docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort();
  return ['README.md', ...docs.map((f) => `docs/${f}`)];
}

/** The shell blocks of one markdown file. An unclosed fence is an error: the rest of the file would be swallowed. */
export function shellBlocks(root: string, file: string): DocBlock[] {
  const lines = readFileSync(join(root, file), 'utf8').split(/\r?\n/);
  const out: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)[^`]*$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, lang] = open as unknown as [string, string, string, string];
    let j = i + 1;
    const close = new RegExp(`^\\s*${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    while (j < lines.length && !close.test(lines[j]!)) j++;
    if (j >= lines.length) throw new Error(`${file}:${i + 1}: the fence ${fence} is never closed`);
    if (SHELL_LANGS.has(lang.toLowerCase())) {
      const body = lines.slice(i + 1, j).map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l.trimStart()));
      out.push({ file, line: i + 1, lang: lang.toLowerCase(), text: body.join('\n'), directives: directivesAbove(lines, i) });
    }
    i = j;
  }
  return out;
}

/** `<!-- doc-test: … -->` comments directly above line `fence` (blank lines between them are allowed). */
function directivesAbove(lines: string[], fence: number): string[] {
  const found: string[] = [];
  for (let k = fence - 1; k >= 0; k--) {
    const l = lines[k]!.trim();
    if (l === '') continue;
    const m = /^<!--\s*doc-test:\s*([\s\S]*?)\s*-->$/.exec(l);
    if (!m) break;
    found.unshift(m[1]!);
  }
  return found;
}

/**
 * The commands of a block, one per entry: comment-only and blank lines dropped, `\`-continued lines joined, a
 * here-document kept whole with its command. `comment` is the text after a trailing ` # ` (outside quotes).
 */
export function commands(text: string): { command: string; comment: string }[] {
  const lines = text.split('\n');
  const out: { command: string; comment: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\$/.test(line) && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i]!.trim()}`;
    const heredoc = /<<-?\s*['"]?(\w+)['"]?/.exec(line);
    if (heredoc) {
      const end = heredoc[1]!;
      const body: string[] = [line];
      while (i + 1 < lines.length && lines[i + 1]!.trim() !== end) body.push(lines[++i]!);
      if (i + 1 < lines.length) body.push(lines[++i]!);
      out.push({ command: body.join('\n'), comment: '' });
      continue;
    }
    const { code, comment } = splitComment(line);
    if (code.trim() !== '') out.push({ command: code.trim(), comment });
  }
  return out;
}

/** Splits "cmd args   # comment" at the first # that starts a word outside quotes. */
function splitComment(line: string): { code: string; comment: string } {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return { code: line.slice(0, i), comment: line.slice(i + 1).trim() };
  }
  return { code: line, comment: '' };
}

/** Shell words of a simple command (quotes removed, no expansion): enough to read a `fota …` line's options. */
export function words(command: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote = '';
  let any = false;
  for (const c of command) {
    if (quote) {
      if (c === quote) quote = '';
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      any = true;
    } else if (/\s/.test(c)) {
      if (cur !== '' || any) out.push(cur);
      cur = '';
      any = false;
    } else cur += c;
  }
  if (cur !== '' || any) out.push(cur);
  return out;
}
