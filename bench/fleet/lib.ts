// Bundle entry for bench/fleet-bench.mjs: the TypeScript pieces the plain-ESM orchestrator needs (esbuild bundles
// this file into a temp dir at bench start; better-sqlite3 stays external).

export { seedHistory, type SeedOptions, type SeedResult } from './seed.js';
export { makePackage, type BenchPackage } from './fixtures.js';
export { JobClient, JobClientError } from '../../hub/job-client.js';
export { jobPoller } from '../../cli/job-poll.js';
export { startPackageServer } from '../../hub/package-server.js';
export { createFleetDevices } from './agents.js';
