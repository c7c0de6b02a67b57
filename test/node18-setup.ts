// Setup of the Node 18 leg (vitest.node18.config.ts): a test file that is not running on Node 18 fails at once.
if (!process.versions.node.startsWith('18.')) throw new Error(`the Node 18 leg runs on Node ${process.versions.node}: see scripts/node18.sh`);
