// --insecure-dev of the daemon commands: the root command defines the same flag (for clients), and
// commander hands it to the root wherever it stands, so `berth controller --insecure-dev` never set
// the controller's own option and the controller ran with TLS. insecureDevFlag reads it from both.
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../cli/src/main.js';
import { insecureDevFlag } from '../../cli/src/commands/common.js';

/** Parses argv with the real program, the daemon's action replaced: what it would have been given. */
function parsed(argv: string[]): { own: unknown; flag: boolean } {
  const program = buildProgram();
  let seen: { own: unknown; flag: boolean } | undefined;
  for (const name of ['controller', 'agent']) {
    const sub = program.commands.find((c) => c.name() === name)!;
    sub.action((opts: Record<string, unknown>, cmd: Command) => {
      seen = { own: opts['insecureDev'], flag: insecureDevFlag(cmd) };
    });
  }
  program.parse(argv, { from: 'user' });
  return seen!;
}

describe('--insecure-dev on berth controller and berth agent', () => {
  for (const daemon of ['controller', 'agent']) {
    it(`${daemon}: after the command or before it, the daemon sees it; without it, not`, () => {
      const after = parsed([daemon, '--insecure-dev']);
      // The command's own option stays unset (what the daemon read before): the root took it.
      expect(after.own).toBeUndefined();
      expect(after.flag).toBe(true);
      expect(parsed(['--insecure-dev', daemon]).flag).toBe(true);
      expect(parsed([daemon]).flag).toBe(false);
    });
  }
});
