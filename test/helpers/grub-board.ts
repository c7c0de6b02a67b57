// A GRUB board for tests: grub.cfg run by the hush interpreter in GRUB's dialect (set, [ … ], load_env / save_env on
// the grubenv file through the real grub-editenv, menuentry, search, linux, initrd), then the default entry booted.
// The kernel command line is what `linux` was given.
import { execFileSync } from 'node:child_process';
import { parseList } from '../../platform/grub/grub-env.js';
import { Hush } from './uboot-hush.js';

export type GrubBoot = { kind: 'booted'; cmdline: string; log: string[] } | { kind: 'halted'; log: string[] };

export function grubPowerOn(o: { cfg: string; envFile: string; kernelLoads(cmdline: string): boolean }): GrubBoot {
  const entries: (() => number)[] = [];
  let cmdline: string | undefined;
  let kernel = false;
  const editenv = (...args: string[]) => execFileSync('grub-editenv', [o.envFile, ...args], { encoding: 'utf8' });
  const hush = new Hush(new Map(), {
    saveenv: () => {
      throw new Error('GRUB has no saveenv');
    },
    load: () => false,
    block: (words, body) => {
      if (words[0] !== 'menuentry') throw new Error(`block "${words[0]}" is not modelled`);
      entries.push(body);
      return 0;
    },
    command: (argv, h) => {
      const [cmd, ...args] = argv;
      switch (cmd) {
        case 'set': {
          for (const a of args) {
            const eq = a.indexOf('=');
            if (eq > 0) h.env.set(a.slice(0, eq), a.slice(eq + 1));
          }
          return 0;
        }
        case '[':
          if (args[args.length - 1] !== ']') throw new Error('[ without ]');
          return h.test(args.slice(0, -1)) ? 0 : 1;
        case 'load_env': {
          // with names: only those (GRUB's whitelist form)
          const stored = parseList(editenv('list'));
          for (const [k, v] of Object.entries(stored)) if (args.length === 0 || args.includes(k)) h.env.set(k, v);
          return 0;
        }
        case 'save_env': {
          const set = args.filter((k) => h.env.has(k)).map((k) => `${k}=${h.env.get(k)}`);
          if (set.length > 0) editenv('set', ...set);
          return 0;
        }
        case 'search':
        case 'insmod':
        case 'initrd':
          return 0;
        case 'linux':
          cmdline = args.slice(1).join(' ');
          kernel = o.kernelLoads(cmdline);
          return kernel ? 0 : 1;
        default:
          return undefined;
      }
    },
  });
  hush.run(o.cfg);
  const entry = entries[Number(hush.env.get('default') ?? '0')];
  if (!entry) return { kind: 'halted', log: hush.log };
  entry();
  // GRUB boots at the end of the entry; without a kernel it stops with an error (a watchdog or a person resets)
  return kernel && cmdline !== undefined ? { kind: 'booted', cmdline, log: hush.log } : { kind: 'halted', log: hush.log };
}
