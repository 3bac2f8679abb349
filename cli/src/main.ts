#!/usr/bin/env node
// The berth command. Exit codes (./errors.ts, docs/cli.md): 0 success, 1 failed at run time
// (refused, invalid manifest, a wait that failed or timed out), 2 usage (any mistake in the
// command line; `berth diff`: any error, 1 meaning differences), 3 controller unreachable.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { BERTH_VERSION } from '../../proto/src/version.js';
import { ConfigError } from './config.js';
import { registerDiff } from './commands/diff.js';
import { registerDescribe } from './commands/describe.js';
import { registerScale } from './commands/scale.js';
import { registerVersion } from './commands/version.js';
import { registerConfig } from './commands/config.js';
import { registerCompletion } from './commands/completion.js';
import { ApiError, isUnreachable } from './client.js';
import { ManifestError } from './manifest.js';
import { escapeControl } from './output.js';
import { registerApply } from './commands/apply.js';
import { registerGet } from './commands/get.js';
import { registerDelete } from './commands/delete.js';
import { registerController } from './commands/controller.js';
import { registerAgent } from './commands/agent.js';
import { registerUp } from './commands/up.js';
import { registerConvert } from './commands/convert.js';
import { registerObserve } from './commands/observe.js';
import { CommandExit } from './commands/exec.js';
import { registerRegistry, registerRollout } from './commands/rollout.js';
import { registerNodes } from './commands/nodes.js';
import { registerPlan } from './commands/plan.js';
import { setTransportResolver } from './client.js';
import { registerToken } from './commands/token.js';
import { registerCa } from './commands/ca.js';
import { registerAudit } from './commands/audit.js';
import { clientTransport } from './commands/common.js';
import { CliError, EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNAVAILABLE } from './errors.js';

export const VERSION = BERTH_VERSION;

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('berth')
    .description('Berth: run services across Docker hosts')
    .version(`berth ${VERSION}`, '-V, --version', 'print the client version')
    .option(
      '--controller <host:port>',
      'controller address; agents take a comma-separated list (env BERTH_CONTROLLER; default: the current context, else 127.0.0.1:7070)',
    )
    .option('--context <name>', 'use this context of the config file (berth config get-contexts)')
    .option('--insecure-dev', 'talk plaintext to a controller started with --insecure-dev (env BERTH_INSECURE_DEV=1)')
    .showHelpAfterError()
    .exitOverride()
    // Clients of every command find their credential the same way (read when the first one opens).
    .hook('preAction', (_program, action) => setTransportResolver(() => clientTransport(action)));
  registerUp(program);
  registerNodes(program);
  registerPlan(program);
  registerApply(program);
  registerDiff(program);
  registerGet(program);
  registerDescribe(program);
  registerScale(program);
  registerDelete(program);
  registerVersion(program);
  registerConfig(program);
  registerCompletion(program);
  registerController(program);
  registerAgent(program);
  registerConvert(program);
  registerObserve(program);
  registerRollout(program);
  registerRegistry(program);
  registerToken(program);
  registerCa(program);
  registerAudit(program);
  // Every subcommand, at any depth, reports usage errors to main() (exit 2) instead of exiting itself.
  const overrideExit = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(overrideExit);
  };
  overrideExit(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    // A command may end normally with a non-zero code that is not an error (diff: differences).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help, --version, `berth help`: 0. Help shown because the command was incomplete
      // (`berth`, `berth nodes`: commander's exit code 1) is a usage mistake like any other.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK;
      if (err.code === 'commander.help' && err.exitCode === 0) return EXIT_OK;
      return EXIT_USAGE;
    }
    if (err instanceof CommandExit) return err.exitCode;
    const msg = err instanceof Error ? err.message : String(err);
    // Messages may quote the server (names, container errors): control characters are escaped.
    process.stderr.write(`error: ${escapeControl(msg)}\n`);
    return exitCodeOf(err);
  }
}

/** The exit code of an error (docs/cli.md, Exit codes). */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof ConfigError) return EXIT_USAGE;
  if (err instanceof ManifestError) return EXIT_FAILED;
  if (err instanceof ApiError) return isUnreachable(err) ? EXIT_UNAVAILABLE : EXIT_FAILED;
  return EXIT_FAILED;
}

/** True when this file is the program being run (not imported, e.g. by the docs test). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const code = await main(process.argv);
  process.exit(code);
}
