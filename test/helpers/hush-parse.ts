// The parser of the hush subset the boot-logic tests interpret (uboot-hush.ts): words (quotes and escapes kept for
// expansion at run time), operators, if/elif/else/fi, for/in/do/done, and `name args… { body }` blocks. Pure.

export type Word = string; // raw text, quotes and escapes kept, expanded when run
export type Node =
  | { t: 'cmd'; words: Word[] }
  | { t: 'and' | 'or'; a: Node; b: Node }
  | { t: 'list'; items: Node[] }
  | { t: 'if'; branches: { cond: Node; body: Node }[]; otherwise?: Node }
  | { t: 'for'; name: string; items: Word[]; body: Node }
  | { t: 'block'; words: Word[]; body: Node };

export const RESERVED = new Set(['if', 'then', 'elif', 'else', 'fi', 'for', 'in', 'do', 'done', '{', '}']);

/** Splits a script into words and operators (';', '&&', '||', '\n'); quotes stay in the words. */
function lex(src: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\r') i++;
    else if (c === '#') while (i < src.length && src[i] !== '\n') i++;
    else if (c === '\n' || c === ';') (out.push(c === ';' ? ';' : '\n'), i++);
    else if ((c === '&' || c === '|') && src[i + 1] === c) (out.push(c + c), (i += 2));
    else {
      let w = '';
      while (i < src.length && !' \t\r\n;'.includes(src[i]!) && !((src[i] === '&' || src[i] === '|') && src[i + 1] === src[i])) {
        const q = src[i]!;
        if (q === '\\') (w += src.slice(i, i + 2), (i += 2));
        else if (q === "'" || q === '"') {
          let j = i + 1;
          while (j < src.length && src[j] !== q) j += q === '"' && src[j] === '\\' ? 2 : 1;
          if (j >= src.length) throw new Error(`unterminated ${q} in: ${src.slice(i, i + 40)}`);
          w += src.slice(i, j + 1);
          i = j + 1;
        } else (w += q, i++);
      }
      out.push(w);
    }
  }
  return out;
}

class Parser {
  private i = 0;
  constructor(private readonly toks: string[]) {}

  parse(): Node {
    const n = this.list(new Set());
    if (this.i < this.toks.length) throw new Error(`unexpected "${this.toks[this.i]}"`);
    return n;
  }

  private peek = () => this.toks[this.i];
  private skipSeparators() {
    while (this.peek() === ';' || this.peek() === '\n') this.i++;
  }
  private expect(word: string) {
    this.skipSeparators();
    if (this.toks[this.i] !== word) throw new Error(`expected "${word}", got "${this.toks[this.i] ?? 'end of script'}"`);
    this.i++;
  }

  /** commands until one of `stops` (a reserved word) at command position */
  private list(stops: Set<string>): Node {
    const items: Node[] = [];
    for (;;) {
      this.skipSeparators();
      const t = this.peek();
      if (t === undefined || stops.has(t)) return { t: 'list', items };
      items.push(this.andOr());
    }
  }

  private andOr(): Node {
    let a = this.command();
    while (this.peek() === '&&' || this.peek() === '||') {
      const op = this.toks[this.i++] === '&&' ? 'and' : 'or';
      while (this.peek() === '\n') this.i++;
      a = { t: op, a, b: this.command() };
    }
    return a;
  }

  private command(): Node {
    const t = this.peek();
    if (t === 'if') return this.ifNode();
    if (t === 'for') return this.forNode();
    const words: Word[] = [];
    while (this.peek() !== undefined && ![';', '\n', '&&', '||', '{'].includes(this.peek()!)) words.push(this.toks[this.i++]!);
    if (this.peek() === '{') {
      this.i++;
      const body = this.list(new Set(['}']));
      this.expect('}');
      return { t: 'block', words, body };
    }
    if (words.length === 0) throw new Error(`empty command before "${this.peek()}"`);
    return { t: 'cmd', words };
  }

  private ifNode(): Node {
    this.i++;
    const branches: { cond: Node; body: Node }[] = [];
    let otherwise: Node | undefined;
    for (;;) {
      const cond = this.list(new Set(['then']));
      this.expect('then');
      const body = this.list(new Set(['elif', 'else', 'fi']));
      branches.push({ cond, body });
      const t = this.toks[this.i++];
      if (t === 'elif') continue;
      if (t === 'else') {
        otherwise = this.list(new Set(['fi']));
        this.expect('fi');
      } else if (t !== 'fi') throw new Error(`expected elif/else/fi, got "${t ?? 'end of script'}"`);
      return otherwise ? { t: 'if', branches, otherwise } : { t: 'if', branches };
    }
  }

  private forNode(): Node {
    this.i++;
    const name = this.toks[this.i++]!;
    this.expect('in');
    const items: Word[] = [];
    while (this.peek() !== ';' && this.peek() !== '\n') items.push(this.toks[this.i++]!);
    this.expect('do');
    const body = this.list(new Set(['done']));
    this.expect('done');
    return { t: 'for', name, items, body };
  }
}

export function parseHush(src: string): Node {
  return new Parser(lex(src)).parse();
}
