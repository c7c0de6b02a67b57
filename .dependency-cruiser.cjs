// Dependency rules of the house (docs/architecture.md): protocol/ is the shared contract, the agent core sees
// ports only, agent/ and hub/ never import each other, only agent/main.ts composes adapters and platforms.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'protocol-is-a-leaf',
      comment: 'protocol/ is the wire contract both sides import; it imports nothing of theirs',
      severity: 'error',
      from: { path: '^protocol/' },
      to: { path: '^(agent|hub|platform)/' },
    },
    {
      name: 'agent-and-hub-apart',
      comment: 'agent/ and hub/ share only protocol/',
      severity: 'error',
      from: { path: '^agent/' },
      to: { path: '^hub/' },
    },
    {
      name: 'hub-and-agent-apart',
      severity: 'error',
      from: { path: '^hub/' },
      to: { path: '^agent/' },
    },
    {
      name: 'core-is-pure',
      comment: 'the agent core imports no node:* module and no npm package: it sees ports only',
      severity: 'error',
      from: { path: '^agent/core/' },
      to: { dependencyTypes: ['core', 'npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'core-sees-no-adapters',
      severity: 'error',
      from: { path: '^agent/core/' },
      to: { path: '^(agent/adapters|agent/main|agent/compose|agent/config|platform)/?' },
    },
    {
      name: 'only-main-composes-platforms',
      comment: 'within agent/, only the composition root (main.ts, compose.ts) imports platform/',
      severity: 'error',
      from: { path: '^agent/', pathNot: '^agent/(main|compose)\\.ts$' },
      to: { path: '^platform/' },
    },
    {
      name: 'platform-sees-core-ports-only',
      comment: 'platforms implement the core ports; they do not reach into adapters or the daemon',
      severity: 'error',
      from: { path: '^platform/' },
      to: { path: '^(agent/(adapters|main|compose|config)|agent/core/(daemon|firmware-machine|model))' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
  },
};
