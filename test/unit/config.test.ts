// Agent configuration: defaults, env overrides, and errors that name the key. Also keeps docs/configuration.md
// true: every key of the schema is documented there.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AGENT_SCHEMA, parseConfig } from '../../agent/config.js';
import { ConfigError, fields } from '../../agent/config-schema.js';

const base = { deviceId: 'dev-1', platform: { name: 'simulator', options: { dir: '/tmp/x' } }, trustedKeys: ['/etc/fota/k.pub'] };

function err(raw: unknown, env: NodeJS.ProcessEnv = {}): string {
  try {
    parseConfig(raw, env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('agent configuration', () => {
  it('fills defaults and freezes the result', () => {
    const cfg = parseConfig(base);
    expect(cfg.broker.url).toBe('mqtt://127.0.0.1:1883');
    expect(cfg.download.retries).toBe(8);
    expect(cfg.allowedUriSchemes).toEqual(['https', 'http']);
    expect(Object.isFrozen(cfg.broker)).toBe(true);
  });

  it('environment overrides the file', () => {
    const cfg = parseConfig(base, { FOTA_AGENT_BROKER_URL: 'mqtts://b:8883', FOTA_AGENT_DEVICE_ID: 'dev-2' });
    expect(cfg.broker.url).toBe('mqtts://b:8883');
    expect(cfg.deviceId).toBe('dev-2');
  });

  it.each([
    [{ ...base, deviceId: undefined }, /^deviceId: is required/],
    [{ ...base, deviceId: 'a/b' }, /^deviceId: must be letters/],
    [{ ...base, download: { retries: -1 } }, /^download\.retries: must be an integer from 0 to 1000/],
    [{ ...base, download: { retries: 'many' } }, /^download\.retries/],
    [{ ...base, brokr: {} }, /^brokr: unknown key/],
    [{ ...base, broker: { url: 'http://x' } }, /^broker\.url: must be an MQTT URL/],
    [{ ...base, broker: { password: 'x', passwordFile: '/p' } }, /^broker\.password: set either/],
    [{ ...base, broker: { certFile: '/c' } }, /^broker\.certFile/],
    [{ ...base, trustedKeys: [] }, /^trustedKeys: list at least one/],
    [{ ...base, trustedKeys: ['relative.pub'] }, /^trustedKeys: "relative.pub" must be an absolute path/],
    [{ ...base, allowedUriSchemes: ['ftp'] }, /^allowedUriSchemes: "ftp" is not one of https, http/],
    [{ ...base, broker: { protocolVersion: 3 } }, /^broker\.protocolVersion: must be one of 4, 5/],
    [{ ...base, topicPrefix: 'a/+/b' }, /^topicPrefix/],
    [[], /must be a JSON object/],
  ])('rejects %j', (raw, re) => {
    expect(err(raw)).toMatch(re);
  });

  it('an unsigned setup must say so explicitly', () => {
    expect(parseConfig({ ...base, trustedKeys: [], allowUnsigned: true }).allowUnsigned).toBe(true);
  });

  it('docs/configuration.md documents every key', () => {
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    for (const [key] of fields(AGENT_SCHEMA)) {
      const leaf = key.split('.').pop()!;
      expect(doc.includes(`\`${key}\``) || doc.includes(`\`${key.replace(leaf, '')}${leaf}\``) || doc.includes(`.${leaf}\``), key).toBe(true);
    }
  });
});

describe('gpio keys (status LED and reset button)', () => {
  it('off by default; a bad value names its key', () => {
    expect(parseConfig(base).gpio).toEqual({ backend: 'auto', sysfsRoot: '/sys/class/gpio', led: { line: -1, chip: '', activeLow: false }, button: { line: -1, chip: '', activeLow: true, holdSec: 10 } });
    expect(err({ ...base, gpio: { backend: 'wiringpi' } })).toMatch(/^gpio\.backend: /);
    expect(err({ ...base, gpio: { led: { line: 17.5 } } })).toMatch(/^gpio\.led\.line: /);
    expect(err({ ...base, gpio: { button: { holdSec: 1 } } })).toMatch(/^gpio\.button\.holdSec: /);
    expect(err({ ...base, gpio: { button: { pin: 27 } } })).toMatch(/gpio\.button\.pin/);
    expect(err({ ...base, gpio: { sysfsRoot: 'sys/class/gpio' } })).toMatch(/^gpio\.sysfsRoot: /);
  });

  it('the LED and the button on one line is refused; the same offset on two chips is fine', () => {
    expect(err({ ...base, gpio: { led: { line: 17 }, button: { line: 17 } } })).toMatch(/^gpio\.button\.line: line 17 on the Raspberry Pi's header chip is also gpio\.led\.line/);
    expect(parseConfig({ ...base, gpio: { led: { line: 17 }, button: { line: 17, chip: 'raspberrypi-exp-gpio' } } }).gpio.button.chip).toBe('raspberrypi-exp-gpio');
  });
});
