// berth completion bash|zsh: print a completion script (../completion.ts). The hidden
// `berth __complete services|tasks|nodes|secrets|policies|namespaces|contexts [-n NS]` feeds it names
// (the kinds are those of ../kinds.ts).
import type { Command } from 'commander';
import { completionScript, SHELLS, type Shell } from '../completion.js';
import { loadConfig } from '../config.js';
import { taskName } from '../output.js';
import { KINDS } from '../kinds.js';
import { SecretClient } from '../secret-client.js';
import { controllerAddress } from './common.js';
import { CliError, EXIT_USAGE } from '../errors.js';

/** A completion that waits longer than this is worse than none. */
export const COMPLETE_TIMEOUT_MS = 2_000;

const WHAT: readonly string[] = [...KINDS.map((k) => k.plural), 'namespaces', 'contexts'];

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('Print a shell completion script: source <(berth completion bash)')
    .argument('<shell>', SHELLS.join(' | '))
    .action((shell: string) => {
      if (!SHELLS.includes(shell as Shell))
        throw new CliError(`unknown shell ${JSON.stringify(shell)}; use ${SHELLS.join(' or ')}`, EXIT_USAGE);
      process.stdout.write(completionScript(shell as Shell, program));
    });

  program
    .command('__complete', { hidden: true })
    .description('names for shell completion, one per line; prints nothing on any error')
    .argument('<what>', WHAT.join(' | '))
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .action(async (what: string, opts: { namespace: string }, cmd: Command) => {
      let names: string[] = [];
      try {
        if (what === 'contexts') names = loadConfig().contexts.map((c) => c.name);
        else if (WHAT.includes(what)) {
          const c = new SecretClient(controllerAddress(cmd));
          const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), COMPLETE_TIMEOUT_MS).unref());
          try {
            names = await Promise.race([listNames(what, opts.namespace, c), timer]);
          } finally {
            c.close();
          }
        }
      } catch {
        names = [];
      }
      // Completion words are plain names (validated DNS labels and ids); drop anything else.
      const safe = [...new Set(names)].filter((n) => /^[A-Za-z0-9][A-Za-z0-9._@-]*$/.test(n)).sort();
      process.stdout.write(safe.map((n) => `${n}\n`).join(''));
    });
}

async function listNames(what: string, namespace: string, c: SecretClient): Promise<string[]> {
  switch (what) {
    case 'services':
      return (await c.listServices(namespace)).map((s) => s.meta?.name ?? '');
    case 'namespaces':
      return (await c.listServices('')).map((s) => s.meta?.namespace ?? '');
    case 'nodes':
      return (await c.listNodes()).map((n) => n.id);
    case 'tasks':
      return (await c.listTasks({ namespace })).map(taskName);
    case 'secrets':
      return (await c.listSecrets(namespace)).map((s) => s.meta?.name ?? '');
    case 'policies':
      return (await c.listPolicies(namespace)).map((p) => p.meta?.name ?? '');
    default:
      return [];
  }
}
