// Every `fota` command that prints results has --json (scripts read JSON, people read text); the exceptions are
// the commands that run in the foreground until stopped, or print something other than a result.
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../cli/commands/index.js';

/** commands without --json, and why */
const NO_RESULTS: Record<string, string> = {
  hub: 'a service in the foreground: it logs JSON lines',
  serve: 'a server in the foreground: it logs requests',
  'sim run': 'a device in the foreground: it logs its boots and the agent',
  demo: 'a show for people; its jobs are in the hub (fota job list --json)',
  completion: 'prints a shell script',
  'broker acl': 'prints a Mosquitto acl_file',
};

describe('fota --json', () => {
  it('every command that prints results takes --json', () => {
    for (const c of COMMANDS) {
      if (c.name in NO_RESULTS) continue;
      expect(Object.keys(c.options ?? {}), `fota ${c.name}`).toContain('json');
      expect(c.usage, `fota ${c.name} --help mentions --json`).toContain('--json');
    }
  });

  it('the exceptions are real commands', () => {
    const names = COMMANDS.map((c) => c.name);
    for (const n of Object.keys(NO_RESULTS)) expect(names).toContain(n);
  });
});
