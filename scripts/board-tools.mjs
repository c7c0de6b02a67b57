// For install.sh: the platform an agent configuration names, and the programs that platform will run on the board
// (so the board can be checked for them before anything is installed). Prints "PLATFORM TOOL,TOOL" ("-" for none).
// Usage: node scripts/board-tools.mjs CONFIG.json | node scripts/board-tools.mjs --platform NAME
// Mirrors the options of platform/*/create-*.ts: a tool path the configuration sets wins over the default name.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** the tools of a platform with these options (none given: its defaults) */
export function boardTools(name, o = {}) {
  const tools = [];
  const fwTools = () => tools.push(o.fwPrintenv || 'fw_printenv', o.fwSetenv || 'fw_setenv');
  if (name === 'uboot' && o.env !== 'native') fwTools();
  // an Edison reads its two environment partitions natively unless told to use the fw tools
  if (name === 'edison' && (o.env === 'fw-tools' || (o.env === undefined && o.envConfig !== undefined))) fwTools();
  if (name === 'grub') tools.push(o.grubEditenv || 'grub-editenv');
  // autoboot.txt on an unmounted FAT partition is read and written with mtools
  if (name === 'rpi-tryboot' && o.autoboot && o.autoboot.device) tools.push('mdir', 'mtype', 'mcopy', 'mmove');
  for (const argv of [o.rebootCommand, name === 'rpi-tryboot' ? o.trybootCommand : undefined])
    if (Array.isArray(argv) && typeof argv[0] === 'string') tools.push(argv[0]);
  return [...new Set(tools)];
}

function main([flag, arg]) {
  if (flag === '--platform') return `${arg} ${boardTools(arg).join(',') || '-'}`;
  let c;
  try {
    c = JSON.parse(readFileSync(flag, 'utf8'));
  } catch (e) {
    console.error(`${flag}: ${e.message}`);
    process.exit(1);
  }
  const name = c?.platform?.name || 'uboot';
  return `${name} ${boardTools(name, c?.platform?.options ?? {}).join(',') || '-'}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(main(process.argv.slice(2)));
