// berth get services|tasks|nodes
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { nodesTable, servicesTable, tasksTable } from '../output.js';
import { client } from './common.js';
import { CliError } from './apply.js';
import { getSecrets } from './secrets.js';

const KINDS: Record<string, 'services' | 'tasks' | 'nodes' | 'secrets'> = {
  service: 'services', services: 'services', svc: 'services',
  task: 'tasks', tasks: 'tasks',
  node: 'nodes', nodes: 'nodes',
  secret: 'secrets', secrets: 'secrets',
};

function emit(format: string | undefined, data: unknown, tableText: () => string): void {
  if (format === 'json') process.stdout.write(JSON.stringify(data, null, 2) + '\n');
  else if (format === 'yaml') process.stdout.write(stringify(data));
  else if (format === undefined || format === 'wide') process.stdout.write(tableText() + '\n');
  else throw new CliError(`-o: unknown output format ${JSON.stringify(format)}; use wide, json or yaml`, 2);
}

/** Parsed spec in place of its JSON text, for -o json|yaml. */
function withSpec<T extends { specJson: string }>(o: T): Omit<T, 'specJson'> & { spec: unknown } {
  const { specJson, ...rest } = o;
  return { ...rest, spec: JSON.parse(specJson) as unknown };
}

export function registerGet(program: Command): void {
  program
    .command('get')
    .description('List services, tasks, nodes or secrets')
    .argument('<kind>', 'services | tasks | nodes | secrets')
    .argument('[name]', 'only this service (services, tasks)')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-A, --all-namespaces', 'every namespace')
    .option('-o, --output <format>', 'wide | json | yaml')
    .option('-a, --all', 'tasks: include finished ones (history)')
    .action(async (kindArg: string, name: string | undefined, opts: { namespace: string; allNamespaces?: boolean; output?: string; all?: boolean }, cmd: Command) => {
      const kind = KINDS[kindArg];
      if (!kind) throw new CliError(`unknown kind ${JSON.stringify(kindArg)}; use services, tasks, nodes or secrets`, 2);
      const ns = opts.allNamespaces ? '' : opts.namespace;
      if (kind === 'secrets') return getSecrets(cmd, ns, name, (data, text) => emit(opts.output, data, text));
      const c = client(cmd);
      try {
        if (kind === 'services') {
          let services = name ? [await c.getService(ns || 'default', name)] : await c.listServices(ns);
          services = services.sort((a, b) => `${a.meta?.namespace}/${a.meta?.name}`.localeCompare(`${b.meta?.namespace}/${b.meta?.name}`));
          emit(opts.output, services.map(withSpec), () => servicesTable(services, opts.output === 'wide'));
        } else if (kind === 'tasks') {
          const tasks = await c.listTasks({ namespace: ns, service: name ?? '', all: !!opts.all });
          emit(opts.output, tasks.map(withSpec), () => tasksTable(tasks, opts.output === 'wide'));
        } else {
          const nodes = await c.listNodes();
          emit(opts.output, nodes, () => nodesTable(nodes));
        }
      } finally {
        c.close();
      }
    });
}
