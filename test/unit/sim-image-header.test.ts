// The simulated image header: encode/decode round trip and every way a header is rejected.
import { describe, expect, it } from 'vitest';
import { decodeSimImageHeader, encodeSimImageHeader, SIM_HEADER_SIZE, SimImageError } from '../../platform/simulator/image-header.js';

describe('simulated image header', () => {
  it('round-trips version, size and the broken flag in exactly 4 KiB', () => {
    for (const h of [
      { version: '1.0.0', size: 4096, broken: false },
      { version: '3.0.0-rc.1+build.7', size: 256 * 1024 * 1024, broken: true },
    ]) {
      const buf = encodeSimImageHeader(h);
      expect(buf.length).toBe(SIM_HEADER_SIZE);
      expect(decodeSimImageHeader(buf)).toEqual(h);
    }
  });

  it('starts with a magic a human can spot', () => {
    const buf = encodeSimImageHeader({ version: '2.0.0', size: 8192, broken: false });
    expect(new TextDecoder().decode(buf.subarray(0, 8))).toBe('FOTASIM1');
    expect(new TextDecoder().decode(buf.subarray(12, 80))).toContain('"version":"2.0.0"');
  });

  it('rejects bytes that are not an image, a corrupted header and a short read', () => {
    expect(() => decodeSimImageHeader(new Uint8Array(SIM_HEADER_SIZE))).toThrow(/no FOTASIM1 magic/);
    const buf = encodeSimImageHeader({ version: '2.0.0', size: 8192, broken: false });
    buf[20]! ^= 1;
    expect(() => decodeSimImageHeader(buf)).toThrow(/CRC mismatch/);
    expect(() => decodeSimImageHeader(buf.subarray(0, 100))).toThrow(SimImageError);
  });

  it('refuses a version with spaces, an empty version and a size below the header', () => {
    expect(() => encodeSimImageHeader({ version: '1 0', size: 8192, broken: false })).toThrow(/printable/);
    expect(() => encodeSimImageHeader({ version: '', size: 8192, broken: false })).toThrow(/printable/);
    expect(() => encodeSimImageHeader({ version: '1', size: 4095, broken: false })).toThrow(/at least 4096/);
  });
});
