// berth describe service NAME | task ID|NAME.SLOT | node ID: one object in detail, for people.
// The sections are in ../describe.ts.
import type { Command } from 'commander';
import type { Task__Output } from '../../../proto/gen/berth/v1/Task.js';
import type { BerthClient } from '../client.js';
import {
  NODE_SECTIONS,
  SERVICE_SECTIONS,
  TASK_SECTIONS,
  nodeFields,
  renderDescription,
  serviceFields,
  taskFields,
  type DescribeContext,
} from '../describe.js';
import { eventsFrom } from '../events-view.js';
import { taskName, useColor } from '../output.js';
import { sortTasks } from '../views.js';
import { client } from './common.js';
import { kindChoices, kindList, parseKind } from '../kinds.js';
import { CliError, EXIT_FAILED, EXIT_USAGE } from '../errors.js';

/** A task by id, or by SERVICE.SLOT / SERVICE.NODE (the live task of that replica, else its newest). */
export async function findTask(c: BerthClient, namespace: string, ref: string): Promise<Task__Output> {
  const byName = /^([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.(.+)$/.exec(ref);
  if (byName) {
    const found = sortTasks((await c.listTasks({ namespace, service: byName[1]!, all: true })).filter((t) => taskName(t) === ref));
    if (found[0]) return found[0];
  }
  const t = (await c.listTasks({ all: true })).find((x) => x.id === ref);
  if (!t)
    throw new CliError(
      byName ? `no task ${ref} in namespace ${namespace} (and no task with that id)` : `task ${ref} not found`,
      EXIT_FAILED,
    );
  return t;
}

export function registerDescribe(program: Command): void {
  program
    .command('describe')
    .description('Show one service, task or node in detail: spec, tasks with node and state, why pending')
    .argument('<kind>', kindChoices('describe', 'singular'))
    .argument('<name>', 'service name, task id (or SERVICE.SLOT, SERVICE.NODE), node id')
    .option('-n, --namespace <ns>', 'namespace (services, SERVICE.SLOT tasks)', 'default')
    .action(async (kindArg: string, name: string, opts: { namespace: string }, cmd: Command) => {
      const kind = parseKind('describe', kindArg);
      if (!kind) throw new CliError(`unknown kind ${JSON.stringify(kindArg)}; use ${kindList('describe', 'singular')}`, EXIT_USAGE);
      const c = client(cmd);
      try {
        const now = Date.now();
        const ctx: DescribeContext = { now, color: useColor(), events: eventsFrom(c.address) };
        let text: string;
        if (kind === 'service') {
          const [service, tasks] = await Promise.all([
            c.getService(opts.namespace, name),
            c.listTasks({ namespace: opts.namespace, service: name, all: true }),
          ]);
          const mine = tasks.filter((t) => t.serviceUid === service.meta?.uid);
          const data = { service, tasks: mine };
          text = await renderDescription(serviceFields(data, now), SERVICE_SECTIONS, data, ctx);
        } else if (kind === 'task') {
          const data = { task: await findTask(c, opts.namespace, name) };
          text = await renderDescription(taskFields(data, now), TASK_SECTIONS, data, ctx);
        } else {
          const [nodes, tasks] = await Promise.all([c.listNodes(), c.listTasks({ nodeId: name })]);
          const node = nodes.find((n) => n.id === name);
          if (!node) throw new CliError(`node ${name} not found`, EXIT_FAILED);
          const data = { node, tasks };
          text = await renderDescription(nodeFields(data, now), NODE_SECTIONS, data, ctx);
        }
        process.stdout.write(text);
      } finally {
        c.close();
      }
    });
}
