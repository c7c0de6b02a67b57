// The hil project's global setup: builds (or finds in the cache) the virtual board's disk image once for all test
// files, and hands its paths to them (inject('hilImage')). On a real board (FOTA_HIL_TARGET) nothing is built.
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
  const t0 = Date.now();
  const image = await ensureImage((line) => process.stderr.write(`${line}\n`));
  process.stderr.write(`hil image ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${image.dir}\n`);
  project.provide('hilImage', image);
}
