// Options and helpers shared by the commands.
import type { Command } from 'commander';
import { BerthClient, DEFAULT_CONTROLLER } from '../client.js';

export function controllerAddress(cmd: Command): string {
  const opts = cmd.optsWithGlobals<{ controller?: string }>();
  return opts.controller ?? process.env['BERTH_CONTROLLER'] ?? DEFAULT_CONTROLLER;
}

export function client(cmd: Command): BerthClient {
  return new BerthClient(controllerAddress(cmd));
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

/** Exit codes (docs/cli.md): */
export const EXIT_OK = 0;
/** The request failed: invalid input, refused by the controller, or a failed wait. */
export const EXIT_FAILED = 1;
/** Wrong usage of the command line. */
export const EXIT_USAGE = 2;
/** The controller could not be reached or did not answer. */
export const EXIT_UNAVAILABLE = 3;
