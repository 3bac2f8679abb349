// berth top: CPU and memory per service and per node, from the agents' latest samples.
import type { Command } from 'commander';
import type { TopResponse__Output } from '../../../proto/gen/berth/v1/TopResponse.js';
import { humanBytes } from '../../../proto/src/spec/units.js';
import { table, toJson } from '../output.js';
import { checkOutputFormat } from './get.js';
import { observeClient } from './observe-common.js';

function cpu(cores: number): string {
  return cores.toFixed(3);
}

function percent(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((100 * part) / whole)}%` : '-';
}

export function topText(res: TopResponse__Output, wide: boolean): string {
  const services = table(
    ['NAMESPACE', 'SERVICE', 'REPLICAS', 'CPU', 'MEMORY'],
    res.services.map((s) => [s.namespace, s.service, String(s.replicas), cpu(s.cpuCores), humanBytes(s.memoryBytes)]),
  );
  const nodes = table(
    ['NODE', 'STATE', 'CONTAINERS', 'CPU', 'CPU%', 'MEMORY', 'MEMORY%', 'NOTE'],
    res.nodes.map((n) =>
      n.error
        ? [n.node, n.state, '-', '-', '-', '-', '-', `unavailable: ${n.error}`]
        : [
            n.node,
            n.state,
            String(n.containers),
            cpu(n.cpuCores),
            percent(n.cpuCores * 1000, n.capacityCpuMilli),
            humanBytes(n.memoryBytes),
            percent(n.memoryBytes, n.capacityMemoryBytes),
            '',
          ],
    ),
  );
  const parts = [services, nodes];
  if (wide) {
    parts.push(
      table(
        ['NAMESPACE', 'REPLICA', 'NODE', 'CPU', 'MEMORY'],
        res.tasks.map((t) => [t.namespace, `${t.service}.${t.slot}`, t.node, cpu(t.cpuCores), humanBytes(t.memoryBytes)]),
      ),
    );
  }
  return parts.join('\n\n');
}

export function registerTop(program: Command): void {
  program
    .command('top')
    .description('Show CPU and memory per service and per node (the agents sample every 5s)')
    .option('-n, --namespace <ns>', 'services of this namespace', 'default')
    .option('-A, --all-namespaces', 'services of every namespace')
    .option('-o, --output <format>', 'wide (also per replica) | json')
    .action(async (opts: { namespace: string; allNamespaces?: boolean; output?: string }, cmd: Command) => {
      checkOutputFormat(opts.output, ['wide', 'json']);
      const c = observeClient(cmd);
      try {
        const res = await c.top(opts.allNamespaces ? '' : opts.namespace);
        process.stdout.write(opts.output === 'json' ? toJson(res) : `${topText(res, opts.output === 'wide')}\n`);
      } finally {
        c.close();
      }
    });
}
