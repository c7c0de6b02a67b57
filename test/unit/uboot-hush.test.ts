// The hush interpreter the boot-logic tests rely on: quoting and expansion as U-Boot's hush does them, setexpr's hex,
// test's operators, control flow, run, and the boot/reset outcomes. If it were wrong, the convention tests would
// prove nothing; these pin the behaviours the boot scripts depend on.
import { describe, expect, it } from 'vitest';
import { Booted, Hush, Reset } from '../helpers/uboot-hush.js';

function hush(env: Record<string, string> = {}, load = true) {
  const saves: Record<string, string>[] = [];
  const h = new Hush(new Map(Object.entries(env)), { saveenv: (e) => saves.push(Object.fromEntries(e)), load: () => load });
  return { h, saves, env: () => Object.fromEntries(h.env) };
}

describe('U-Boot hush subset', () => {
  it('quotes: double quotes expand and keep blanks, single quotes are literal, backslash escapes', () => {
    const { h, env } = hush({ a: 'x y' });
    h.run(`setenv q "v=\${a} \\"z\\""; setenv s '\${a}'; setenv u \${a}   tail; setenv e \\$a`);
    expect(env()).toMatchObject({ q: 'v=x y "z"', s: '${a}', u: 'x y tail', e: '$a' });
  });

  it('setenv with no value deletes; env set / env delete; hush locals do not reach the environment', () => {
    const { h, env } = hush({ a: '1', b: '2' });
    h.run('setenv a; env set c 3; env delete b; local=7; setenv d ${local}');
    expect(env()).toEqual({ c: '3', d: '7' });
  });

  it('setexpr works in hex like U-Boot: 9 + 1 = a, 0 - 1 wraps', () => {
    const { h, env } = hush({ n: '9', z: '0' });
    h.run('setexpr n ${n} + 1; setexpr z ${z} - 1; setexpr t 3 - 1');
    expect(env()).toMatchObject({ n: 'a', z: 'ffffffffffffffff', t: '2' });
  });

  it('test: strings, numbers (0x is hex), -z/-n, !, -a/-o; && and ||', () => {
    const { h, env } = hush({ two: '2', empty: '' });
    h.run(`test \${two} -gt 1 && setenv r1 yes
test 0x\${two} -eq 2 && setenv r2 yes
test -z "\${empty}" && test -n "\${two}" && setenv r3 yes
test ! "\${two}" = "2" || setenv r4 yes
test "a" = "b" -o 3 -lt 4 && setenv r5 yes
test "a" = "a" -a 3 -gt 4 || setenv r6 yes`);
    expect(env()).toMatchObject({ r1: 'yes', r2: 'yes', r3: 'yes', r4: 'yes', r5: 'yes', r6: 'yes' });
  });

  it('if/elif/else across lines with comments and an empty branch; for splits its list; run runs variables', () => {
    const { h, env } = hush({ ORDER: 'B A', sub: 'setenv from_run ${slot}' });
    h.run(`setenv seen
for slot in "\${ORDER}"; do
  if test -n "\${seen}"; then
    # only the first
  elif test "\${slot}" = "A"; then
    setenv seen A
  else
    setenv seen \${slot}; run sub
  fi
done`);
    expect(env()).toMatchObject({ seen: 'B', from_run: 'B' });
  });

  it('saveenv hands over the whole environment; reset and the boot commands end the boot', () => {
    const { h, saves } = hush({ a: '1', bootargs: 'root=/dev/x' });
    expect(() => h.run('setenv b 2; saveenv; reset')).toThrow(Reset);
    expect(saves).toEqual([{ a: '1', b: '2', bootargs: 'root=/dev/x' }]);
    // nothing loaded: bootz fails and the script goes on; after a load it boots with the bootargs
    expect(h.run('bootz 0x1000')).toBe(1);
    try {
      h.run('load mmc 0:2 0x1000 /boot/zImage; bootz 0x1000');
      throw new Error('did not boot');
    } catch (e) {
      expect(e).toBeInstanceOf(Booted);
      expect((e as Booted).bootargs).toBe('root=/dev/x');
    }
    const failing = hush({}, false).h;
    expect(failing.run('load mmc 0:3 0x1000 /boot/zImage || setenv failed 1; bootz 0x1000')).toBe(1);
    expect(failing.env.get('failed')).toBe('1');
  });

  it('refuses what it does not model instead of guessing', () => {
    expect(() => hush().h.run('fdt addr 0x100')).toThrow(/"fdt" is not modelled/);
    expect(() => hush().h.run('if test 1 = 1; then echo x')).toThrow(/expected elif\/else\/fi/);
  });
});
