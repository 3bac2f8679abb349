// berth get services|tasks|nodes [NAME] [-n NS | -A] [-l SELECTOR] [-o wide|json|yaml] [-a]
//
// -l selects by labels, in the CLI (the controller lists, the CLI filters): services by their
// labels, tasks by the labels of their service, nodes by their effective labels (agent labels,
// overridden by operator labels). -o json|yaml print the shapes of ../views.ts (docs/cli.md).
import { getPolicies } from './policies.js';
import type { Command } from 'commander';
import { nodesTable, servicesTable, tasksTable, toJson, toYaml } from '../output.js';
import { matches, parseSelector, SelectorError, type Requirement } from '../selector.js';
import { nodeLabels, nodeView, serviceView, sortNodes, sortServices, sortTasks, taskView } from '../views.js';
import { client } from './common.js';
import { getSecrets } from './secrets.js';
import { kindChoices, kindList, parseKind } from '../kinds.js';
import { CliError, EXIT_USAGE } from '../errors.js';

export const OUTPUT_FORMATS = ['wide', 'json', 'yaml'] as const;

/** -o: an unknown format is a usage error (exit 2), before anything is asked. */
export function checkOutputFormat(format: string | undefined, allowed: readonly string[] = OUTPUT_FORMATS): void {
  if (format !== undefined && !allowed.includes(format)) {
    throw new CliError(`-o: unknown output format ${JSON.stringify(format)}; use ${allowed.join(', ')}`, EXIT_USAGE);
  }
}

function emit(format: string | undefined, data: unknown, tableText: () => string): void {
  checkOutputFormat(format);
  if (format === 'json') process.stdout.write(toJson(data));
  else if (format === 'yaml') process.stdout.write(toYaml(data));
  else process.stdout.write(tableText() + '\n');
}

/** -l: parsed, or a usage error naming the part that is wrong. */
export function selectorOption(value: string | undefined): Requirement[] | undefined {
  if (value === undefined) return undefined;
  try {
    return parseSelector(value);
  } catch (err) {
    if (err instanceof SelectorError) throw new CliError(`-l: ${err.message}`, EXIT_USAGE);
    throw err;
  }
}

export function registerGet(program: Command): void {
  program
    .command('get')
    .description('List services, tasks, nodes or secrets')
    .argument('<kind>', kindChoices('get', 'plural'))
    .argument('[name]', 'only this service (services, tasks)')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-A, --all-namespaces', 'every namespace')
    .option('-l, --selector <selector>', 'only objects whose labels match, e.g. tier=front,env!=dev,app,!legacy,env in (a,b)')
    .option('-o, --output <format>', 'wide | json | yaml')
    .option('-a, --all', 'tasks: include finished ones (history)')
    .action(
      async (
        kindArg: string,
        name: string | undefined,
        opts: { namespace: string; allNamespaces?: boolean; selector?: string; output?: string; all?: boolean },
        cmd: Command,
      ) => {
        const kind = parseKind('get', kindArg);
        if (!kind) throw new CliError(`unknown kind ${JSON.stringify(kindArg)}; use ${kindList('get', 'plural')}`, EXIT_USAGE);
        // Usage first: a bad -o or -l is exit 2 before anything is asked.
        checkOutputFormat(opts.output);
        const selector = selectorOption(opts.selector);
        const ns = opts.allNamespaces ? '' : opts.namespace;
        if (kind === 'secret') return getSecrets(cmd, ns, name, selector, (data, text) => emit(opts.output, data, text));
        if (kind === 'policy') return getPolicies(cmd, ns, name, selector, (data, text) => emit(opts.output, data, text));
        const c = client(cmd);
        try {
          const wide = opts.output === 'wide';
          // A list prints as {items: [...]}; `get services NAME` and `get nodes NAME` print the object.
          const one = name !== undefined && kind !== 'task';
          if (kind === 'service') {
            let services = sortServices(name ? [await c.getService(ns || 'default', name)] : await c.listServices(ns));
            if (selector) services = services.filter((s) => matches(s.meta?.labels ?? {}, selector));
            const views = services.map(serviceView);
            emit(opts.output, one ? (views[0] ?? null) : { items: views }, () => servicesTable(services, wide));
          } else if (kind === 'task') {
            let tasks = sortTasks(await c.listTasks({ namespace: ns, service: name ?? '', all: !!opts.all }));
            if (selector) {
              const selected = new Set(
                (await c.listServices(ns)).filter((s) => matches(s.meta?.labels ?? {}, selector)).map((s) => s.meta?.uid ?? ''),
              );
              tasks = tasks.filter((t) => selected.has(t.serviceUid));
            }
            emit(opts.output, { items: tasks.map(taskView) }, () => tasksTable(tasks, wide));
          } else {
            let nodes = sortNodes(await c.listNodes());
            if (name !== undefined) {
              nodes = nodes.filter((n) => n.id === name);
              if (nodes.length === 0) throw new CliError(`node ${name} not found`);
            }
            if (selector) nodes = nodes.filter((n) => matches(nodeLabels(n), selector));
            const views = nodes.map(nodeView);
            emit(opts.output, one ? (views[0] ?? null) : { items: views }, () => nodesTable(nodes, wide));
          }
        } finally {
          c.close();
        }
      },
    );
}
