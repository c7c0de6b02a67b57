// A sysfs GPIO folder for tests (gpiochipN/{base,label,ngpio}, export, unexport) with a stand-in kernel in the test
// process: writing N to export creates gpioN/{direction,active_low,edge,value} whole, writing it to unexport removes
// gpioN, as the kernel does (Documentation/ABI/obsolete/sysfs-gpio). The files are plain files: epoll cannot wait on
// them the way it waits on a real sysfs value file, so inputs on this tree are read by polling.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, watch, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface FakeChip {
  name: string;
  label: string;
  base: number;
  ngpio: number;
}

export interface FakeSysfs {
  /** the gpio folder (what /sys/class/gpio would be) */
  root: string;
  /** stops the stand-in kernel */
  close(): void;
}

/** Creates `dir/gpio` with these chips and starts its stand-in kernel. */
export async function fakeGpioSysfs(dir: string, chips: FakeChip[]): Promise<FakeSysfs> {
  const root = join(dir, 'gpio');
  await mkdir(root, { recursive: true });
  for (const c of chips) {
    await mkdir(join(root, c.name));
    await writeFile(join(root, c.name, 'label'), `${c.label}\n`);
    await writeFile(join(root, c.name, 'base'), `${c.base}\n`);
    await writeFile(join(root, c.name, 'ngpio'), `${c.ngpio}\n`);
  }
  await writeFile(join(root, 'export'), '');
  await writeFile(join(root, 'unexport'), '');
  const written = (f: string) => readFileSync(join(root, f), 'utf8').trim();
  // synchronous, like the kernel: gpioN and its files exist whole once the export write has been seen
  const exporter = watch(join(root, 'export'), () => {
    const n = written('export');
    const d = join(root, `gpio${n}`);
    if (!/^\d+$/.test(n) || existsSync(d)) return;
    mkdirSync(join(d, 'tmp'), { recursive: true });
    const files: Record<string, string> = { direction: 'in\n', active_low: '0\n', edge: 'none\n', value: '0\n' };
    for (const [f, v] of Object.entries(files)) writeFileSync(join(d, 'tmp', f), v);
    for (const f of Object.keys(files)) renameSync(join(d, 'tmp', f), join(d, f));
    rmSync(join(d, 'tmp'), { recursive: true });
  });
  const unexporter = watch(join(root, 'unexport'), () => {
    const n = written('unexport');
    if (/^\d+$/.test(n)) rmSync(join(root, `gpio${n}`), { recursive: true, force: true });
  });
  return {
    root,
    close: () => {
      exporter.close();
      unexporter.close();
    },
  };
}
