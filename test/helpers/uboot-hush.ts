// A small interpreter of the U-Boot hush subset that A/B boot scripts use (fota's boot.cmd, Mender's env_mender.h,
// RAUC's contrib/uboot.sh), so tests run the bootloader's own logic instead of a model of it. Pure logic, no IO:
// storage, loading and booting are hooks. Covers: `;` and newlines, && ||, if/then/elif/else/fi, for/in/do/done,
// '…' "…" \ quoting, ${var} $var (hush locals, then the environment), comments, name=value locals, and the commands
// setenv, env set|delete, setexpr (hex, as U-Boot), test (-z -n = != -eq -ne -lt -le -gt -ge ! -a -o), echo, run,
// saveenv, true, false, reset, the load commands and the boot commands. A dialect (GRUB's, grub-script.ts) adds its
// commands through `command` and its `name … { … }` blocks (menuentry) through `block`.

import { parseHush, RESERVED, type Node, type Word } from './hush-parse.js';

export interface HushHooks {
  /** saveenv: persist the whole environment as it is now */
  saveenv(env: Map<string, string>): void;
  /** load, ext4load, fatload, mmc, nand, virtio, …: true when the command succeeds */
  load(argv: string[]): boolean;
  echo?(line: string): void;
  /** a dialect's own commands: the exit status, or undefined when the command is not one of them */
  command?(argv: string[], hush: Hush): number | undefined;
  /** a `name args… { body }` block (GRUB's menuentry): receives the expanded words and a runner of the body */
  block?(words: string[], body: () => number): number;
}

/** Thrown when a boot command starts a kernel (it never returns), with the environment at that moment. */
export class Booted {
  constructor(
    readonly command: string[],
    readonly bootargs: string,
  ) {}
}
/** Thrown by `reset`. */
export class Reset {}

/** simple_strtoul as U-Boot ≥ 2021 reads a number for `test`: a 0x prefix is hex, else decimal digits. */
const num = (s: string | undefined): number => {
  const m = /^\s*([+-]?)(0x[0-9a-f]+|\d+)/i.exec(s ?? '');
  if (!m) return 0;
  const v = /^0x/i.test(m[2]!) ? parseInt(m[2]!.slice(2), 16) : parseInt(m[2]!, 10);
  return m[1] === '-' ? -v : v;
};

export class Hush {
  readonly locals = new Map<string, string>();
  readonly log: string[] = [];
  private loaded = false;
  private depth = 0;

  constructor(
    readonly env: Map<string, string>,
    private readonly hooks: HushHooks,
  ) {}

  /** Runs a script; returns its exit status, or throws Booted / Reset. */
  run(src: string): number {
    if (++this.depth > 32) throw new Error('run nested too deep');
    try {
      return this.exec(parseHush(src));
    } finally {
      this.depth--;
    }
  }

  private lookup(name: string): string {
    return this.locals.get(name) ?? this.env.get(name) ?? '';
  }

  /** Expands a raw word into fields: quotes removed, variables substituted; unquoted expansions split on blanks. */
  expand(word: Word, split = false): string[] {
    const fields: string[] = [];
    let cur = '';
    let any = false;
    const dollar = (src: string, i: number): [string, number] => {
      if (src[i + 1] === '{') {
        const end = src.indexOf('}', i);
        return [this.lookup(src.slice(i + 2, end)), end + 1];
      }
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i + 1));
      return m ? [this.lookup(m[0]), i + 1 + m[0].length] : ['$', i + 1];
    };
    for (let i = 0; i < word.length; ) {
      const c = word[i]!;
      if (c === '\\') (cur += word[i + 1] ?? '', (i += 2), (any = true));
      else if (c === "'") {
        const end = word.indexOf("'", i + 1);
        cur += word.slice(i + 1, end);
        i = end + 1;
        any = true;
      } else if (c === '"') {
        any = true;
        let j = i + 1;
        let inner = '';
        while (word[j] !== '"') {
          if (word[j] === '\\' && '"\\$'.includes(word[j + 1]!)) (inner += word[j + 1], (j += 2));
          else if (word[j] === '$') {
            const [v, next] = dollar(word, j);
            inner += v;
            j = next;
          } else inner += word[j++];
        }
        i = j + 1;
        // a `for` list splits even quoted expansions (RAUC's `for BOOT_SLOT in "${BOOT_ORDER}"` relies on it)
        if (split) for (const [k, part] of inner.split(/[ \t]+/).entries()) (k > 0 && (fields.push(cur), (cur = '')), (cur += part));
        else cur += inner;
      } else if (c === '$') {
        const [v, next] = dollar(word, i);
        i = next;
        const parts = v.split(/[ \t]+/);
        parts.forEach((p, k) => {
          if (k > 0 && (cur !== '' || any)) (fields.push(cur), (cur = ''), (any = false));
          cur += p;
        });
      } else (cur += c, i++, (any = true));
    }
    if (cur !== '' || any) fields.push(cur);
    return fields;
  }

  private exec(n: Node): number {
    switch (n.t) {
      case 'list': {
        let s = 0;
        for (const item of n.items) s = this.exec(item);
        return s;
      }
      case 'and':
        return this.exec(n.a) === 0 ? this.exec(n.b) : 1;
      case 'or':
        return this.exec(n.a) === 0 ? 0 : this.exec(n.b);
      case 'if':
        for (const b of n.branches) if (this.exec(b.cond) === 0) return this.exec(b.body);
        return n.otherwise ? this.exec(n.otherwise) : 0;
      case 'for': {
        let s = 0;
        for (const item of n.items.flatMap((w) => this.expand(w, true)).filter((x) => x !== '')) {
          this.locals.set(n.name, item);
          s = this.exec(n.body);
        }
        return s;
      }
      case 'cmd':
        return this.command(n.words);
      case 'block': {
        if (!this.hooks.block) throw new Error('blocks ({ … }) are not modelled in this dialect');
        return this.hooks.block(n.words.flatMap((w) => this.expand(w)), () => this.exec(n.body));
      }
    }
  }

  private command(words: Word[]): number {
    // name=value words alone: hush local variables
    if (words.every((w) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(w))) {
      for (const w of words) this.locals.set(w.slice(0, w.indexOf('=')), this.expand(w.slice(w.indexOf('=') + 1)).join(' '));
      return 0;
    }
    const argv = words.flatMap((w) => this.expand(w));
    const [cmd, ...args] = argv;
    if (cmd === undefined) return 0;
    if (RESERVED.has(cmd)) throw new Error(`misplaced "${cmd}"`);
    const own = this.hooks.command?.(argv, this);
    if (own !== undefined) return own;
    switch (cmd) {
      case 'setenv':
        return this.setenv(args);
      case 'env':
        if (args[0] === 'set') return this.setenv(args.slice(1));
        if (args[0] === 'delete') return (args.slice(1).forEach((k) => this.env.delete(k)), 0);
        throw new Error(`env ${args[0]} is not modelled`);
      case 'setexpr':
        return this.setexpr(args);
      case 'test':
        return this.test(args) ? 0 : 1;
      case 'echo':
        this.log.push(args.join(' '));
        this.hooks.echo?.(args.join(' '));
        return 0;
      case 'run':
        for (const name of args) {
          const s = this.run(this.env.get(name) ?? '');
          if (s !== 0) return s;
        }
        return 0;
      case 'saveenv':
        this.hooks.saveenv(this.env);
        return 0;
      case 'true':
        return 0;
      case 'false':
        return 1;
      case 'reset':
        throw new Reset();
      case 'load':
      case 'ext4load':
      case 'fatload':
      case 'mmc':
      case 'nand':
      case 'virtio': {
        const ok = this.hooks.load(argv);
        if (ok) this.loaded = true;
        return ok ? 0 : 1;
      }
      case 'bootz':
      case 'booti':
      case 'bootm':
      case 'zboot':
        // nothing loaded: the boot command fails and the script goes on (as on a board)
        if (!this.loaded) return 1;
        throw new Booted(argv, this.env.get('bootargs') ?? '');
      default:
        throw new Error(`command "${cmd}" is not modelled`);
    }
  }

  private setenv(args: string[]): number {
    const [name, ...value] = args;
    if (!name) return 1;
    if (value.length === 0 || value.join(' ') === '') this.env.delete(name);
    else this.env.set(name, value.join(' '));
    return 0;
  }

  /** setexpr name a op b: U-Boot reads the operands as hex and stores the result as hex ("%lx"). */
  private setexpr(args: string[]): number {
    const [name, a, op, b] = args;
    if (!name || a === undefined) return 1;
    const x = parseInt(a.replace(/^0x/i, ''), 16) || 0;
    if (op === undefined) return (this.env.set(name, x.toString(16)), 0);
    const y = parseInt((b ?? '').replace(/^0x/i, ''), 16) || 0;
    const ops: Record<string, (p: number, q: number) => number> = { '+': (p, q) => p + q, '-': (p, q) => p - q, '*': (p, q) => p * q, '/': (p, q) => Math.floor(p / q), '&': (p, q) => p & q, '|': (p, q) => p | q };
    const f = ops[op];
    if (!f) throw new Error(`setexpr ${op} is not modelled`);
    // unsigned long arithmetic: 0 - 1 wraps around
    this.env.set(name, (BigInt.asUintN(64, BigInt(f(x, y)))).toString(16));
    return 0;
  }

  /** U-Boot's test (GRUB's `[` reads the same): left to right, `!` negates the next expression, -a / -o combine. */
  test(a: string[]): boolean {
    let result: boolean | undefined;
    let pending: '-a' | '-o' | undefined;
    let i = 0;
    while (i < a.length) {
      let negate = false;
      while (a[i] === '!') (negate = !negate, i++);
      let v: boolean;
      const [x, op, y] = [a[i], a[i + 1], a[i + 2]];
      if (x === '-z' || x === '-n') {
        v = x === '-z' ? (op ?? '') === '' : (op ?? '') !== '';
        i += op === undefined ? 1 : 2;
      } else if (op !== undefined && ['=', '!=', '-eq', '-ne', '-lt', '-le', '-gt', '-ge', '<', '>'].includes(op)) {
        const n = [num(x), num(y)] as const;
        v = {
          '=': x === y,
          '!=': x !== y,
          '<': (x ?? '') < (y ?? ''),
          '>': (x ?? '') > (y ?? ''),
          '-eq': n[0] === n[1],
          '-ne': n[0] !== n[1],
          '-lt': n[0] < n[1],
          '-le': n[0] <= n[1],
          '-gt': n[0] > n[1],
          '-ge': n[0] >= n[1],
        }[op]!;
        i += 3;
      } else {
        v = (x ?? '') !== '';
        i += 1;
      }
      if (negate) v = !v;
      result = result === undefined ? v : pending === '-o' ? result || v : result && v;
      pending = a[i] === '-a' || a[i] === '-o' ? (a[i++] as '-a' | '-o') : undefined;
    }
    return result ?? false;
  }
}
