// Test projects: unit (pure logic), integration (real broker, HTTP servers, fw tools; includes the port
// contract suites), system (whole simulated devices as processes) and hil (the virtual board: QEMU + real U-Boot
// + Debian; docs/hardware-in-the-loop.md). `npm test` runs all four.
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
      {
        test: {
          name: 'hil',
          // FOTA_HIL_TARGET=ssh://… runs the real-board file instead of the virtual board's (no skipped tests)
          include: process.env['FOTA_HIL_TARGET'] ? ['test/hil/real-board.test.ts'] : ['test/hil/**/*.test.ts'],
          exclude: process.env['FOTA_HIL_TARGET'] ? [] : ['test/hil/real-board.test.ts'],
          environment: 'node',
          globalSetup: ['test/hil/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
          pool: 'forks',
          // one QEMU at a time: TCG takes both cores
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
