// The hil project's global setup: builds (or finds in the cache) the virtual board's disk image once for all test
// files, and hands its paths to them (inject('hilImage')). On a real board (FOTA_HIL_TARGET) nothing is built.
// A developer may opt out with FOTA_HIL=0 (the virtual board's files then skip, saying why); in CI (CI set, as
// .ci/run does) there is no opting out, and an image that cannot be built fails the run with the reason.
import type { TestProject } from 'vitest/node';
import { ensureImage } from './image/build-image.js';
import type { HilImage } from './image/layout.js';

declare module 'vitest' {
  export interface ProvidedContext {
    hilImage: HilImage | null;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  if (process.env['FOTA_HIL_TARGET']) {
    project.provide('hilImage', null);
    return;
  }
  if (process.env['FOTA_HIL'] === '0') {
    if (process.env['CI']) throw new Error('FOTA_HIL=0 with CI set: CI runs the virtual board, it never skips it (unset FOTA_HIL)');
    process.stderr.write('hil: FOTA_HIL=0, the virtual board is skipped (opted out; CI never does)\n');
    project.provide('hilImage', null);
    return;
  }
  const t0 = Date.now();
  const image = await ensureImage((line) => process.stderr.write(`${line}\n`)).catch((e: Error) => {
    throw new Error(`hil: the virtual board's image could not be built, so the hil project cannot run (a developer may skip it with FOTA_HIL=0; CI may not): ${e.message}`, { cause: e });
  });
  process.stderr.write(`hil image ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${image.dir}\n`);
  project.provide('hilImage', image);
}
