// fota-agent: the process. Parses the configuration once, builds the agent (compose.ts), starts the daemon, and
// turns signals into a clean stop. With compose.ts, the only agent file that imports platform/.
// Exit codes: 0 stopped, 1 crashed (systemd restarts it), 64 usage, 75 restart to apply a new configuration,
// 78 bad configuration, 3 simulated reboot.

import { missingRuntimeSettings } from '../platform/agent-runtime.js';
import { checkPlatform, createPlatform, PlatformConfigError } from '../platform/registry.js';
import { SIM_REBOOT_EXIT_CODE } from '../platform/simulator/constants.js';
import { ConfigError } from './config-schema.js';
import { readConfigFile, type AgentConfig } from './config.js';
import { ConfigOverrides, startWithOverrides } from './adapters/config-overrides.js';
import { startFrontPanel } from './front-panel.js';
import type { Panel } from './adapters/gpio-panel.js';
import { composeAgent, readAgentSecrets, type AgentSecrets, type ComposedAgent } from './compose.js';
import { agentStateStore, type FileStore } from './adapters/file-store.js';
import { errorsAsJournalErrors, jsonLogger, underJournal } from './adapters/json-logger.js';
import { powerCutInjector } from './adapters/power-cut.js';
import { systemdService } from './adapters/systemd-service.js';
import { stateKey } from './core/firmware-machine.js';
import type { Logger } from './core/ports.js';
import { AGENT_COMMANDS, agentCommandsHelp, controlHandler, isAgentCommand, parseCommand, runAgentCommand } from './cli-commands.js';
import { serveControl } from './adapters/control-socket.js';
import { acquireStateLock, StateLockedError } from './adapters/state-lock.js';
import { nodeTooOld } from '../protocol/node-version.js';
import { closest } from '../protocol/suggest.js';

const VERSION = __FOTA_VERSION__;
const EX_USAGE = 64;
const EX_CONFIG = 78;
/** EX_TEMPFAIL: the agent ends to start again with a new configuration */
const EX_RESTART = 75;

const USAGE = `Usage: fota-agent --config FILE [--check]
       fota-agent [--config FILE] <command> [options]      fota-agent <command> --help

The fota device agent: serves LwM2M Device (3) and Firmware Update (5) objects over MQTT, downloads signed
packages into the inactive A/B slot, and commits or rolls back after a trial boot. Runs in the foreground
(systemd: see systemd/fota-agent.service); logs one JSON object per line on stdout.

Options:
  --config FILE   the agent configuration (JSON; see docs/configuration.md)
  --check         validate the configuration and the trusted keys, print a summary, exit
  --version       print the agent version
  --help          this text

Commands (on the device; the configuration defaults to $FOTA_AGENT_CONFIG or /etc/fota/agent.json):
${agentCommandsHelp()}

Environment overrides: FOTA_AGENT_DEVICE_ID, FOTA_AGENT_BROKER_URL, FOTA_AGENT_BROKER_USERNAME,
FOTA_AGENT_BROKER_PASSWORD, FOTA_AGENT_STATE_DIR, FOTA_AGENT_LOG_LEVEL.
Exit codes: 0 stopped, 1 failure, 64 usage, 75 restart requested (new configuration), 78 configuration error.`;

function parseArgv(argv: string[]): { config?: string; check: boolean; command?: string[] } | number {
  let config: string | undefined;
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (isAgentCommand(a)) {
      const command = argv.slice(i);
      const parsed = parseCommand(command);
      if (typeof parsed === 'number') return parsed;
      return { config: config ?? process.env.FOTA_AGENT_CONFIG ?? '/etc/fota/agent.json', check, command };
    }
    if (a === '--help' || a === '-h') return (console.log(USAGE), 0);
    if (a === '--version') return (console.log(VERSION), 0);
    if (a === '--check') check = true;
    else if (a === '--config' || a === '-c') config = argv[++i];
    else if (a?.startsWith('--config=')) config = a.slice('--config='.length);
    else {
      const guess = closest((a ?? '').replace(/^-+/, ''), ['config', 'check', 'version', 'help', ...Object.keys(AGENT_COMMANDS)]);
      const hint = guess ? `; did you mean ${guess in AGENT_COMMANDS ? guess : `--${guess}`}?` : '';
      return (console.error(`fota-agent: unknown argument "${a}"${hint}\n\n${USAGE}`), EX_USAGE);
    }
  }
  if (!config) return (console.error(`fota-agent: --config FILE is required\n\n${USAGE}`), EX_USAGE);
  return { config, check };
}

async function run(argv: string[]): Promise<number> {
  // an old Node is the machine's set-up, not a crash: say what is needed, and exit 78 (systemd does not retry it)
  const old = nodeTooOld('fota-agent', typeof __FOTA_NODE_AGENT__ === 'string' ? __FOTA_NODE_AGENT__ : undefined, process.versions.node, 'the device agent');
  if (old) return (console.error(`fota-agent: ${old}`), EX_CONFIG);
  const args = parseArgv(argv);
  if (typeof args === 'number') return args;
  let cfg: AgentConfig;
  let secrets: AgentSecrets;
  let config: ConfigOverrides;
  let overridesProblems: string[];
  try {
    const raw = readConfigFile(args.config!);
    // the hub's configuration changes (STATE_DIR/config-overrides.json): a change on trial is started here, once
    ({ cfg, config, problems: overridesProblems } = await startWithOverrides(raw, process.env, { run: !args.command && !args.check }));
    secrets = readAgentSecrets(cfg);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`fota-agent: configuration error in ${args.config}: ${e.message}`);
      return EX_CONFIG;
    }
    throw e;
  }
  if (args.command) return runAgentCommand(args.command, { cfg, secrets, version: VERSION });
  const baseLogger = jsonLogger({ component: 'fota-agent', level: cfg.logLevel, syslogPrefix: underJournal(process.env) });
  // under systemd (Type=notify): watchdog pings from now on, STATUS= with each transition, READY=1 once started
  const systemd = args.check ? undefined : systemdService(process.env, { logger: baseLogger, pid: process.pid });
  const logger = systemd?.logger ?? baseLogger;
  for (const problem of overridesProblems) logger.error('configuration changes from the hub', { problem });

  let agent: ComposedAgent | undefined;
  let panel: Promise<Panel | undefined> | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await systemd?.stopping();
      await agent?.daemon.stop();
      // on every way out (signal, reboot, restart): the LED off, and no gpioset left holding a line the next agent needs
      await (await panel)?.close();
    })().catch((e: unknown) => logger.error('stop failed', { error: String(e) })));

  const store = agentStateStore(cfg.stateDir);
  // test builds of a power cut (FOTA_FAULT_POWER_CUT_AT); undefined, and nothing wrapped, in normal use
  const cut = powerCutInjector(process.env, cfg.stateDir);
  try {
    const platform = createPlatform(cfg.platform.name, cfg.platform.options, {
      stateDir: cfg.stateDir,
      // the simulator's reboot: stop cleanly, then leave with the code its bootloader loop understands.
      // Not awaited: this runs inside the daemon's reboot effect, which stop() itself waits for.
      reboot: async () => {
        void stop().then(() => process.exit(SIM_REBOOT_EXIT_CODE));
      },
    });
    agent = composeAgent({
      cfg,
      secrets,
      version: VERSION,
      logger,
      config: cut ? cut.config(config) : config,
      store: cut ? cut.store(store) : store,
      platform: cut ? cut.platform(platform) : platform,
      // systemd (Restart=always) and the simulator start the agent again; exit 75 tells the simulator it was asked for
      restart: async () => {
        void stop().then(() => process.exit(EX_RESTART));
      },
    });
    // the board must fit the backend (slots resolve, the bootloader's files are where the options say): exit 78 if not
    const notes = await checkPlatform(agent.platform, { settle: !args.check });
    if (args.check) for (const note of notes) console.log(`platform: ${note}`);
    else for (const note of notes) logger.info('platform', { note });
  } catch (e) {
    if (e instanceof PlatformConfigError || e instanceof ConfigError) {
      console.error(`fota-agent: configuration error in ${args.config}: ${e.message}`);
      return EX_CONFIG;
    }
    throw e;
  }

  // a board that cannot tell which slot it booted (no fota.slot= on the kernel command line, no U-Boot environment)
  // is set up wrongly: a configuration error (exit 78, no restart loop), found by --check before it is deployed
  const bootProblem = await agent.platform.bootStatus().then(
    () => undefined,
    (e: unknown) => (e as Error).message,
  );
  if (bootProblem !== undefined) {
    console.error(`fota-agent: configuration error in ${args.config}: platform ${cfg.platform.name} cannot tell the booted slot: ${bootProblem}`);
    return EX_CONFIG;
  }

  if (args.check) {
    console.log(`configuration OK: device ${cfg.deviceId}, platform ${cfg.platform.name}, device type ${agent.deviceType}, ${secrets.trustedKeys.keys.length} trusted key(s)${secrets.trustedKeys.retired.length > 0 ? ` (${secrets.trustedKeys.retired.length} retired)` : ''}, broker ${new URL(cfg.broker.url).host}`);
    return 0;
  }

  try {
    await acquireStateLock(cfg.stateDir, 'agent');
  } catch (e) {
    if (!(e instanceof StateLockedError)) throw e;
    console.error(`fota-agent: ${e.message}; only one agent may use a state directory (see: fota-agent status)`);
    return 1;
  }

  const missing = missingRuntimeSettings(process.execArgv, process.env);
  if (missing.length > 0) logger.info('started without the recommended runtime settings: expect ~8 MiB more resident memory (docs/operations.md)', { missing });
  await quarantineIfUnreadable(store, logger);

  const done = new Promise<number>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.once(sig, () => {
        logger.info('stopping', { signal: sig });
        void stop().then(() => resolve(0));
      });
    }
  });
  await agent.daemon.start();
  // fota-agent install/status/mark-good on this device talk to this process (agent/local-control.ts)
  const control = await serveControl(cfg.stateDir, controlHandler({ cfg, secrets, version: VERSION }, agent)).catch((e: unknown) => {
    logger.warn('no local control socket: fota-agent install and status cannot reach this agent', { error: (e as Error).message });
  });
  if (control) void done.then(() => control.close());
  // the status LED and the reset button, when configured (gpio.*); never in the way of the agent
  panel = startFrontPanel(cfg, agent, logger);
  if (stopping) void stopping.then(async () => (await panel)?.close()); // stopped while the panel was opening
  await systemd?.ready(`running: ${stateKey(agent.daemon.firmware)}, device ${cfg.deviceId}, broker ${new URL(cfg.broker.url).host}`);
  return done;
}

/** A state file that cannot be read is moved aside (kept for inspection); the bootloader's view still rules. */
async function quarantineIfUnreadable(store: FileStore, logger: Logger): Promise<void> {
  try {
    await store.load();
  } catch (e) {
    const aside = await store.quarantine();
    logger.error('the saved state could not be read; starting from Idle', { error: (e as Error).message, keptAs: aside });
  }
}

if (underJournal(process.env, 2)) errorsAsJournalErrors();

process.on('uncaughtException', (e) => {
  console.error(JSON.stringify({ time: new Date().toISOString(), level: 'error', component: 'fota-agent', msg: 'uncaught exception', error: e.stack ?? String(e) }));
  process.exit(1);
});

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // a lingering handle (a socket closing) must not keep a stopped agent alive
    setTimeout(() => process.exit(code), 500).unref();
  },
  (e: unknown) => {
    console.error(`fota-agent: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
