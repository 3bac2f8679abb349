// berth nodes ls | label | drain | cordon | uncordon
import type { Command } from 'commander';
import { nodesTable, oneLine, toJson, toYaml } from '../output.js';
import { NodeClient } from '../node-client.js';
import { controllerAddress } from './common.js';
import { checkOutputFormat } from './get.js';
import { CliError, EXIT_USAGE } from '../errors.js';

/** How often `drain --wait` looks at the node's tasks. */
const DRAIN_POLL_MS = 500;

function nodeClient(cmd: Command): NodeClient {
  return new NodeClient(controllerAddress(cmd));
}

export async function withClient<T>(cmd: Command, fn: (c: NodeClient) => Promise<T>): Promise<T> {
  const c = nodeClient(cmd);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** `k=v` sets, `k-` removes. */
export function parseLabelArgs(args: string[]): { set: Record<string, string>; remove: string[] } {
  const set: Record<string, string> = {};
  const remove: string[] = [];
  for (const a of args) {
    const i = a.indexOf('=');
    if (i > 0) set[a.slice(0, i)] = a.slice(i + 1);
    else if (a.endsWith('-') && a.length > 1) remove.push(a.slice(0, -1));
    else throw new CliError(`expected KEY=VALUE to set or KEY- to remove, got ${JSON.stringify(a)}`, EXIT_USAGE);
  }
  return { set, remove };
}

export function registerNodes(program: Command): void {
  const nodes = program.command('nodes').description('List nodes, label them, drain, cordon or uncordon them');

  nodes
    .command('ls')
    .description('List nodes: state, availability, allocated/capacity, tasks, labels')
    .option('-o, --output <format>', 'json | yaml')
    .action(async (opts: { output?: string }, cmd: Command) => {
      checkOutputFormat(opts.output, ['json', 'yaml']);
      const list = await withClient(cmd, (c) => c.listNodes());
      if (opts.output === 'json') process.stdout.write(toJson(list));
      else if (opts.output === 'yaml') process.stdout.write(toYaml(list));
      else process.stdout.write(nodesTable(list) + '\n');
    });

  nodes
    .command('rm')
    .description('Remove a node: its record goes and its certificates are refused (drain it and stop its agent first)')
    .argument('<node>', 'node id')
    .option('--force', 'remove a node that is ready or holds tasks (its tasks are replaced elsewhere at once)')
    .action(async (node: string, opts: { force?: boolean }, cmd: Command) => {
      const n = await withClient(cmd, (c) => c.removeNode(node, opts.force === true));
      process.stdout.write(`node ${n.id} removed; its certificates are refused from now on\n`);
    });

  nodes
    .command('label')
    .description("Set (KEY=VALUE) or remove (KEY-) operator labels; they override the agent's labels")
    .argument('<node>', 'node id')
    .argument('<labels...>', 'KEY=VALUE or KEY-')
    .action(async (node: string, args: string[], _opts: unknown, cmd: Command) => {
      const { set, remove } = parseLabelArgs(args);
      const n = await withClient(cmd, (c) => c.labelNode(node, set, remove));
      const labels = Object.entries({ ...(n.description?.labels ?? {}), ...n.labels })
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      process.stdout.write(oneLine(`node/${n.id} labeled (${labels || 'no labels'})`) + '\n');
    });

  const setAvailability = async (cmd: Command, node: string, value: string, verb: string): Promise<NodeClient> => {
    const c = nodeClient(cmd);
    try {
      const n = await c.setAvailability(node, value);
      process.stdout.write(oneLine(`node/${n.id} ${verb} (availability ${n.availability})`) + '\n');
      return c;
    } catch (err) {
      c.close();
      throw err;
    }
  };

  nodes
    .command('drain')
    .description("Move the node's tasks elsewhere (start-first) and place nothing new on it")
    .argument('<node>', 'node id')
    .option('--wait', 'wait until no task runs on the node any more')
    .option('--timeout <seconds>', 'with --wait: give up after this long', '300')
    .action(async (node: string, opts: { wait?: boolean; timeout: string }, cmd: Command) => {
      const timeoutS = Number(opts.timeout);
      if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new CliError('--timeout: expected a positive number of seconds', EXIT_USAGE);
      const c = await setAvailability(cmd, node, 'drain', 'draining');
      try {
        if (!opts.wait) return;
        const deadline = Date.now() + timeoutS * 1000;
        for (;;) {
          const left = (await c.listTasks({ nodeId: node, all: true })).filter(
            (t) => t.desiredState === 'running' || t.status?.state === 'running',
          );
          if (left.length === 0) break;
          if (Date.now() > deadline)
            throw new CliError(
              `node/${node}: ${left.length} task(s) still there after ${timeoutS}s: ${left.map((t) => `${t.service}.${t.slot}`).join(', ')}`,
            );
          await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
        }
        process.stdout.write(`node/${node} drained\n`);
      } finally {
        c.close();
      }
    });

  nodes
    .command('cordon')
    .description('Place nothing new on the node; its tasks keep running (availability pause)')
    .argument('<node>', 'node id')
    .action(async (node: string, _opts: unknown, cmd: Command) => (await setAvailability(cmd, node, 'pause', 'cordoned')).close());

  nodes
    .command('uncordon')
    .description('Let the node take new tasks again (availability active)')
    .argument('<node>', 'node id')
    .action(async (node: string, _opts: unknown, cmd: Command) => (await setAvailability(cmd, node, 'active', 'uncordoned')).close());
}
