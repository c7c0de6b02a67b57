// install.sh checks a board for the programs its platform will run: the mapping from a configuration to those
// programs (scripts/board-tools.mjs), against the option names of platform/*/create-*.ts.
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script of scripts/, no declaration file
import { boardTools } from '../../scripts/board-tools.mjs';

const tools = boardTools as (name: string, options?: Record<string, unknown>) => string[];

describe('the board tools of a platform', () => {
  it.each([
    ['uboot', {}, ['fw_printenv', 'fw_setenv']],
    ['uboot', { env: 'native' }, []],
    ['uboot', { fwSetenv: '/usr/local/sbin/fw_setenv-hil', rebootCommand: ['/sbin/reboot'] }, ['fw_printenv', '/usr/local/sbin/fw_setenv-hil', '/sbin/reboot']],
    ['edison', {}, []],
    ['edison', { env: 'fw-tools' }, ['fw_printenv', 'fw_setenv']],
    ['edison', { envConfig: '/etc/fw_env.config' }, ['fw_printenv', 'fw_setenv']],
    ['grub', {}, ['grub-editenv']],
    ['grub', { grubEditenv: 'grub2-editenv' }, ['grub2-editenv']],
    ['rpi-tryboot', { autoboot: { dir: '/boot/firmware' } }, []],
    ['rpi-tryboot', { autoboot: { device: '/dev/mmcblk0p1' }, trybootCommand: ['systemctl', 'reboot', '0 tryboot'] }, ['mdir', 'mtype', 'mcopy', 'mmove', 'systemctl']],
    ['simulator', { dir: '/x' }, []],
  ])('%s %j → %j', (name, options, expected) => {
    expect(tools(name, options)).toEqual(expected);
  });
});
