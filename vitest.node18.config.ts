// The agent's tests on Debian's Node 18 (`npm run test:node18`, run inside scripts/node18.sh): the test runner
// stays on the system Node 20 (Vite 7 needs it), and the test files run in forks started with Node 18 — fork()
// starts process.execPath — as does every agent process the tests spawn with process.execPath.
// test/node18-setup.ts fails every file that would not really run on Node 18.
import { defineConfig } from 'vitest/config';
import { node18TestFiles } from './test/node18-tests.js';

const node18 = process.env.FOTA_NODE18;
if (!node18) throw new Error('vitest.node18.config.ts: $FOTA_NODE18 is not set; run it with npm run test:node18');
process.execPath = node18;

export default defineConfig({
  test: {
    name: 'node18',
    include: node18TestFiles(import.meta.dirname ?? new URL('.', import.meta.url).pathname),
    setupFiles: ['test/node18-setup.ts'],
    environment: 'node',
    pool: 'forks',
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
