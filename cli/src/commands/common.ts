// Options and helpers shared by the commands.
import type { Command } from 'commander';
import { BerthClient, transportFromEnv, type ClientTransport } from '../client.js';
import { CredentialSource } from '../../../proto/src/security/tls.js';
import { ManageClient } from '../manage-client.js';
import { CliError, EXIT_USAGE } from '../errors.js';
import { addressProblem, configPath, loadConfig, resolveController, type ResolvedController } from '../config.js';

/** The controller this command talks to: --controller > --context > BERTH_CONTROLLER > current context > default (cli/src/config.ts). */
export function resolvedController(cmd: Command): ResolvedController {
  const opts = cmd.optsWithGlobals<{ controller?: string; context?: string }>();
  const path = configPath();
  const r = resolveController({
    flag: opts.controller,
    context: opts.context,
    env: process.env['BERTH_CONTROLLER'],
    config: () => loadConfig(path),
    configPath: path,
  });
  // Contexts were checked when the file was read; a flag or variable is checked here (agents
  // take a comma-separated list): a malformed address is a usage error, not an unreachable one.
  if (r.source === 'flag' || r.source === 'env') {
    for (const a of r.address
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)) {
      const problem = addressProblem(a);
      if (problem) throw new CliError(`${r.source === 'flag' ? '--controller' : 'BERTH_CONTROLLER'}: ${problem}`, EXIT_USAGE);
    }
  }
  return r;
}

/**
 * The transport of this command's clients: --insecure-dev or BERTH_INSECURE_DEV; BERTH_CREDENTIALS;
 * else the credential of the context named by --context, or of the current context (also when
 * --controller or BERTH_CONTROLLER names the address, as kubectl keeps the user of its context).
 */
export function clientTransport(cmd: Command): ClientTransport | undefined {
  const opts = cmd.optsWithGlobals<{ insecureDev?: boolean; context?: string }>();
  if (opts.insecureDev) return { kind: 'insecure' };
  const fromEnv = transportFromEnv();
  if (fromEnv) return fromEnv;
  const path = configPath();
  const cfg = loadConfig(path);
  const name = opts.context ?? cfg['current-context'];
  const ctx = cfg.contexts.find((c) => c.name === name);
  if (!ctx?.credential) return undefined;
  return {
    kind: 'tls',
    source: new CredentialSource({ caPem: ctx.credential.ca, certPem: ctx.credential.cert, keyPem: ctx.credential.key }),
  };
}

/**
 * --insecure-dev of a daemon command (controller, agent). Commander hands an option that the root
 * command also defines to the root wherever it stands (`berth controller --insecure-dev` sets the
 * root's), so the command's own opts never see it: read it with the globals.
 */
export function insecureDevFlag(cmd: Command): boolean {
  return cmd.optsWithGlobals<{ insecureDev?: boolean }>().insecureDev === true;
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

/** "k=v" → [k, v]; used by --label (a usage error names the flag). */
export function parseKeyValue(s: string, flag = '--label'): [string, string] {
  const i = s.indexOf('=');
  if (i <= 0) throw new CliError(`${flag}: expected key=value, got ${JSON.stringify(s)}`, EXIT_USAGE);
  return [s.slice(0, i), s.slice(i + 1)];
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
