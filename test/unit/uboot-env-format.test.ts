// The U-Boot environment image format: CRC, round trips (single and redundant), bad CRC, limits, copy selection.
import { describe, expect, it } from 'vitest';
import { crc32, currentCopy, EnvFormatError, fromRaw, isValidCopy, parseEnvData, parseEnvImage, serializeEnvImage, toRaw } from '../../platform/uboot/env-format.js';
import { formatFwEnvConfig, parseFwEnvConfig } from '../../platform/uboot/fw-env-config.js';

const enc = (s: string) => new TextEncoder().encode(s);
const vars = (o: Record<string, string>) => new Map(Object.entries(o));

describe('crc32', () => {
  it('matches the IEEE check value and zlib on known inputs', () => {
    expect(crc32(enc('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(enc('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
  });
});

describe('serializeEnvImage / parseEnvImage', () => {
  it('round-trips a single-copy image with the CRC little endian in front', () => {
    const img = serializeEnvImage(vars({ boot_part: 'A', bootlimit: '3' }), { size: 0x100, redundant: false });
    expect(img.length).toBe(0x100);
    const crc = new DataView(img.buffer).getUint32(0, true);
    expect(crc).toBe(crc32(img.subarray(4)));
    expect(new TextDecoder().decode(img.subarray(4, 4 + 'boot_part=A\0bootlimit=3\0\0'.length))).toBe('boot_part=A\0bootlimit=3\0\0');
    expect(Object.fromEntries(parseEnvImage(img, false).vars)).toEqual({ boot_part: 'A', bootlimit: '3' });
  });

  it('round-trips a redundant copy and keeps its flag byte', () => {
    const img = serializeEnvImage(vars({ x: '1' }), { size: 64, redundant: true, flags: 7 });
    expect(img[4]).toBe(7);
    expect(new TextDecoder().decode(img.subarray(5, 9))).toBe('x=1\0');
    const parsed = parseEnvImage(img, true);
    expect(parsed.flags).toBe(7);
    expect(parsed.vars.get('x')).toBe('1');
  });

  it('stores variables sorted by name, as U-Boot and libubootenv do', () => {
    const img = serializeEnvImage(vars({ zeta: '1', alpha: '2', mid: '3' }), { size: 64, redundant: false });
    expect(new TextDecoder().decode(img.subarray(4, 4 + 22))).toBe('alpha=2\0mid=3\0zeta=1\0\0');
  });

  it('keeps values holding "=", spaces and newlines', () => {
    const v = { cmd: 'setenv a=b; run x', multi: 'line1\nline2' };
    expect(Object.fromEntries(parseEnvImage(serializeEnvImage(vars(v), { size: 128, redundant: false }), false).vars)).toEqual(v);
  });

  it('rejects a bad CRC clearly', () => {
    const img = serializeEnvImage(vars({ boot_part: 'A' }), { size: 64, redundant: false });
    img[6]! ^= 0xff;
    expect(isValidCopy(img, false)).toBe(false);
    expect(() => parseEnvImage(img, false)).toThrow(EnvFormatError);
    expect(() => parseEnvImage(img, false)).toThrow(/CRC does not match/);
  });

  it('treats a single image read as redundant (wrong layout) as invalid', () => {
    const img = serializeEnvImage(vars({ a: '1' }), { size: 64, redundant: false });
    expect(isValidCopy(img, true)).toBe(false);
  });

  it('refuses variables that do not fit, bad names and NUL bytes', () => {
    expect(() => serializeEnvImage(vars({ a: 'x'.repeat(100) }), { size: 64, redundant: false })).toThrow(/do not fit/);
    expect(() => serializeEnvImage(vars({ 'a=b': '1' }), { size: 64, redundant: false })).toThrow(/not a valid U-Boot variable name/);
    expect(() => serializeEnvImage(vars({ a: 'x\0y' }), { size: 64, redundant: false })).toThrow(/NUL/);
  });

  it('fits exactly: the last entry plus both terminators fill the data area', () => {
    // size 16: 4 CRC + data 12 = "abcdefgh=1\0" (11) + final "\0"
    expect(() => serializeEnvImage(vars({ abcdefgh: '1' }), { size: 16, redundant: false })).not.toThrow();
    expect(() => serializeEnvImage(vars({ abcdefghi: '1' }), { size: 16, redundant: false })).toThrow(/do not fit/);
  });

  it('skips entries without "=" and stops at the empty string', () => {
    expect(Object.fromEntries(parseEnvData(enc('a=1\0junk\0b=2\0\0c=3\0')))).toEqual({ a: '1', b: '2' });
  });

  it('round-trips non-ASCII bytes through the raw form', () => {
    const raw = toRaw('café ✓');
    expect(raw.length).toBe(Buffer.byteLength('café ✓'));
    expect(fromRaw(raw)).toBe('café ✓');
    expect(fromRaw('\xff\xfe')).toBe('\xff\xfe'); // not UTF-8: kept byte for byte
  });
});

describe('currentCopy (redundant selection)', () => {
  const c = (valid: boolean, flags: number) => ({ valid, flags });
  it.each([
    [c(true, 1), c(false, 9), 0],
    [c(false, 9), c(true, 1), 1],
    [c(false, 1), c(false, 2), -1],
    [c(true, 1), c(true, 2), 1],
    [c(true, 5), c(true, 4), 0],
    [c(true, 3), c(true, 3), 0],
    [c(true, 255), c(true, 0), 1],
    [c(true, 0), c(true, 255), 0],
  ] as const)('%o / %o → copy %i', (a, b, want) => {
    expect(currentCopy([a, b])).toBe(want);
  });
});

describe('fw_env.config', () => {
  it('reads single and redundant configurations with hex and decimal numbers', () => {
    expect(parseFwEnvConfig('# comment\n/dev/mmcblk0 0x400000 0x4000\n')).toEqual([{ path: '/dev/mmcblk0', offset: 0x400000, size: 0x4000 }]);
    expect(parseFwEnvConfig('/a 0 4000 200 1\n\n/b 16384 0x4000\n')).toEqual([
      { path: '/a', offset: 0, size: 0x4000 },
      { path: '/b', offset: 16384, size: 0x4000 },
    ]);
    expect(parseFwEnvConfig('/dev/mmcblk0 -0x4000 0x4000')[0].offset).toBe(-0x4000);
  });

  it('names the bad line', () => {
    expect(() => parseFwEnvConfig('/a zz 0x4000')).toThrow(/line 1: offset "zz"/);
    expect(() => parseFwEnvConfig('/a 0 0')).toThrow(/line 1: environment size/);
    expect(() => parseFwEnvConfig('# nothing\n')).toThrow(/no environment location/);
    expect(() => parseFwEnvConfig('/a 0 0x4000\n/b 0 0x2000')).toThrow(/differ in size/);
  });

  it('formats what it parses', () => {
    const locs = [
      { path: '/x/uboot.env', offset: 0, size: 0x4000 },
      { path: '/x/uboot.env', offset: 0x4000, size: 0x4000 },
    ];
    expect(parseFwEnvConfig(formatFwEnvConfig(locs))).toEqual(locs);
  });
});
