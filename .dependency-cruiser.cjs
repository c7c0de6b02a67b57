// Dependency rules of the house (docs/architecture.md): protocol/ is the shared contract, the agent core sees
// ports only, agent/ and hub/ never import each other, only agent/main.ts composes adapters and platforms, and
// the operator CLI (cli/) sees the hub through its published faces only.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'protocol-is-a-leaf',
      comment: 'protocol/ is the wire contract both sides import; it imports nothing of theirs',
      severity: 'error',
      from: { path: '^protocol/' },
      to: { path: '^(agent|hub|platform|cli)/' },
    },
    {
      name: 'nothing-imports-the-cli',
      comment: 'cli/ is a leaf: the service, the agent and the platforms work without it',
      severity: 'error',
      from: { path: '^(agent|hub|platform)/' },
      to: { path: '^cli/' },
    },
    {
      name: 'cli-and-agent-apart',
      comment: 'the CLI talks to agents over MQTT or starts them as processes; the agent\'s own subcommands live in agent/',
      severity: 'error',
      from: { path: '^cli/' },
      to: { path: '^agent/' },
    },
    {
      name: 'cli-sees-the-hub-faces-only',
      comment:
        'the CLI uses the hub through job-client.ts (the API library) and the job vocabulary it speaks (job-model, ' +
        'job-query, job-service-api: pure), starts the service (hub-server.ts, `fota hub`) and the package server ' +
        '(`fota serve`), and speaks to devices with hub-link.ts (`fota device`); `fota broker` edits password files and ' +
        'prints ACLs with hub/broker/ (pure) under hub-lock.ts; never the store, the jobs engine or the API routes',
      severity: 'error',
      from: { path: '^cli/' },
      to: { path: '^hub/', pathNot: '^hub/(job-client|hub-server|hub-link|hub-lock|package-server|broker/[a-z-]+|jobs/(job-model|job-query|job-service-api))\\.ts$' },
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
      name: 'dashboard-ui-is-browser-code',
      comment:
        'the dashboard\'s browser code (bundled for the browser by scripts/build.mjs) imports only itself and the pure ' +
        'wire constants (protocol/lwm2m.ts, protocol/topics.ts): no node:* module, no npm package, nothing of the hub',
      severity: 'error',
      from: { path: '^hub/dashboard/ui/' },
      to: { pathNot: '^(hub/dashboard/ui/|protocol/(lwm2m|topics)\\.ts$)' },
    },
    {
      name: 'nothing-imports-the-dashboard-ui',
      comment: 'the hub serves the built bundle (dist/dashboard/); its server code never imports the browser code',
      severity: 'error',
      from: { pathNot: '^hub/dashboard/ui/' },
      to: { path: '^hub/dashboard/ui/' },
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
