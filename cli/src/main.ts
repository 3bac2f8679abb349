#!/usr/bin/env node
// The berth command.
import { Command, CommanderError } from 'commander';
import { ApiError } from './client.js';
import { ManifestError } from './manifest.js';
import { escapeControl } from './output.js';
import { CliError, registerApply } from './commands/apply.js';
import { registerGet } from './commands/get.js';
import { registerDelete } from './commands/delete.js';
import { registerController } from './commands/controller.js';
import { registerAgent } from './commands/agent.js';
import { registerUp } from './commands/up.js';
import { registerRegistry, registerRollout } from './commands/rollout.js';
import { registerNodes } from './commands/nodes.js';
import { registerPlan } from './commands/plan.js';
import { EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE } from './commands/common.js';
import { status } from '@grpc/grpc-js';

export const VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('berth')
    .description('Berth: run services across Docker hosts')
    .version(VERSION)
    .option('--controller <host:port>', 'controller address; agents take a comma-separated list (env BERTH_CONTROLLER; default 127.0.0.1:7070)')
    .showHelpAfterError()
    .exitOverride();
  registerUp(program);
  registerNodes(program);
  registerPlan(program);
  registerApply(program);
  registerGet(program);
  registerDelete(program);
  registerController(program);
  registerAgent(program);
  registerRollout(program);
  registerRegistry(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return EXIT_USAGE;
    }
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`error: ${escapeControl(msg).replace(/\\x0a/g, '\n')}\n`);
    if (err instanceof CliError) return err.exitCode;
    if (err instanceof ManifestError) return EXIT_FAILED;
    if (err instanceof ApiError) return err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED ? EXIT_UNAVAILABLE : EXIT_FAILED;
    return EXIT_FAILED;
  }
}

const code = await main(process.argv);
process.exit(code);
