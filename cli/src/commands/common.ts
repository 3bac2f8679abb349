// Options and helpers shared by the commands.
import type { Command } from 'commander';
import { BerthClient } from '../client.js';
import { ManageClient } from '../manage-client.js';
import { configPath, loadConfig, resolveController, type ResolvedController } from '../config.js';

/** The controller this command talks to: --controller > --context > BERTH_CONTROLLER > current context > default (cli/src/config.ts). */
export function resolvedController(cmd: Command): ResolvedController {
  const opts = cmd.optsWithGlobals<{ controller?: string; context?: string }>();
  const path = configPath();
  return resolveController({ flag: opts.controller, context: opts.context, env: process.env['BERTH_CONTROLLER'], config: () => loadConfig(path), configPath: path });
}

/** The address (or, for agents, comma-separated addresses) this command talks to; see resolvedController. */
export function controllerAddress(cmd: Command): string {
  return resolvedController(cmd).address;
}

export function client(cmd: Command): BerthClient {
  return new BerthClient(controllerAddress(cmd));
}

export function manageClient(cmd: Command): ManageClient {
  return new ManageClient(controllerAddress(cmd));
}

/** "k=v" → [k, v]; used by --label. */
export function parseKeyValue(s: string): [string, string] {
  const i = s.indexOf('=');
  if (i <= 0) throw new Error(`expected key=value, got ${JSON.stringify(s)}`);
  return [s.slice(0, i), s.slice(i + 1)];
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
