// berth delete service NAME | berth delete secret NAME | berth delete policy NAME | berth delete -f FILE
import type { Command } from 'commander';
import { loadManifests } from '../manifest.js';
import { oneLine } from '../output.js';
import { client } from './common.js';
import { expandCompose } from '../compose/load.js';
import { deleteSecrets } from './secrets.js';
import { deletePolicies } from './policies.js';
import { CliError, EXIT_USAGE } from '../errors.js';
import { kindChoices, kindList, parseKind } from '../kinds.js';

export function registerDelete(program: Command): void {
  program
    .command('delete')
    .description('Delete services (their containers stop gracefully, then their records go), secrets or policies')
    .argument('[kind]', kindChoices('delete', 'singular'))
    .argument('[names...]', 'names')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-f, --filename <path...>', 'delete the services, secrets and policies named in these manifests (or Compose files)')
    .action(async (kind: string | undefined, names: string[], opts: { namespace: string; filename?: string[] }, cmd: Command) => {
      const targets: Array<{ namespace: string; name: string }> = [];
      const secrets: Array<{ namespace: string; name: string }> = [];
      const policies: Array<{ namespace: string; name: string }> = [];
      if (opts.filename) {
        if (kind !== undefined)
          throw new CliError(
            `-f names what to delete; give no kind or names with it (got ${JSON.stringify([kind, ...names].join(' '))})`,
            EXIT_USAGE,
          );
        for (const d of expandCompose(loadManifests(opts.filename), { warn: () => undefined })) {
          const m = (d.doc as { metadata?: { name?: string; namespace?: string } }).metadata;
          if (!m?.name) throw new CliError(`${d.source} (document ${d.index}): metadata.name: required field is missing`);
          const k = (d.doc as { kind?: unknown }).kind;
          (k === 'Secret' ? secrets : k === 'Policy' ? policies : targets).push({ namespace: m.namespace ?? 'default', name: m.name });
        }
      } else {
        const what = kind === undefined ? undefined : parseKind('delete', kind);
        if (!what)
          throw new CliError(
            `usage: berth delete ${kindChoices('delete', 'singular').replace(/ /g, '')} NAME... | berth delete -f FILE${kind === undefined ? '' : ` (unknown kind ${JSON.stringify(kind)}; use ${kindList('delete', 'singular')})`}`,
            EXIT_USAGE,
          );
        if (names.length === 0) throw new CliError(`name the ${what}(s) to delete`, EXIT_USAGE);
        if (what === 'secret')
          return deleteSecrets(
            cmd,
            names.map((name) => ({ namespace: opts.namespace, name })),
          );
        if (what === 'policy')
          return deletePolicies(
            cmd,
            names.map((name) => ({ namespace: opts.namespace, name })),
          );
        for (const name of names) targets.push({ namespace: opts.namespace, name });
      }
      const c = client(cmd);
      try {
        for (const t of targets) {
          await c.deleteService(t.namespace, t.name);
          process.stdout.write(oneLine(`service/${t.namespace}/${t.name} deleted (containers stopping)`) + '\n');
        }
      } finally {
        c.close();
      }
      if (secrets.length > 0) await deleteSecrets(cmd, secrets);
      if (policies.length > 0) await deletePolicies(cmd, policies);
    });
}
