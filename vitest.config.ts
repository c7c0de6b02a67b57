// Test projects: unit (pure logic), integration (real broker, HTTP servers, fw tools; includes the port
// contract suites) and system (whole simulated devices as processes). `npm test` runs all three.
import { defineConfig } from 'vitest/config';

// every project: an unhandled promise rejection fails the test it happened in
const setupFiles = ['test/setup/unhandled-rejections.ts'];

export default defineConfig({
  test: {
    maxWorkers: 2,
    minWorkers: 1,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          setupFiles,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/contract/**/*.test.ts', 'test/integration/**/*.test.ts'],
          environment: 'node',
          setupFiles,
          testTimeout: 30_000,
          hookTimeout: 30_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'system',
          include: ['test/system/**/*.test.ts'],
          environment: 'node',
          setupFiles,
          testTimeout: 180_000,
          hookTimeout: 60_000,
          pool: 'forks',
          // whole devices are heavy on 2 cores: one system test file at a time
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
