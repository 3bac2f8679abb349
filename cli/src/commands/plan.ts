// berth plan -f FILE: what the scheduler would do if the manifests were applied, on a snapshot
// of the cluster; writes nothing.
import type { Command } from 'commander';
import type { PlanResponse__Output } from '../../../proto/gen/berth/v1/PlanResponse.js';
import type { PlannedTask__Output } from '../../../proto/gen/berth/v1/PlannedTask.js';
import type { Resources__Output } from '../../../proto/gen/berth/v1/Resources.js';
import { humanBytes } from '../../../proto/src/spec/units.js';
import { expandCompose } from '../compose/load.js';
import { loadManifests } from '../manifest.js';
import { escapeControl, oneLine, table, toJson } from '../output.js';

import { withClient } from './nodes.js';
import { CliError, EXIT_USAGE } from '../errors.js';

const taskName = (t: PlannedTask__Output): string => `${t.namespace === 'default' ? '' : `${t.namespace}/`}${t.service}.${t.slot}`;
const list = (ts: PlannedTask__Output[], fmt: (t: PlannedTask__Output) => string = taskName): string =>
  ts.length > 0 ? ts.map(fmt).join(',') : '-';
const cpu = (r: Resources__Output | null): string => String((r?.cpuMilli ?? 0) / 1000);
const mem = (r: Resources__Output | null): string => humanBytes(r?.memoryBytes ?? 0);

export function planText(p: PlanResponse__Output): string {
  const out: string[] = [];
  out.push(
    table(
      ['SERVICE', 'RESULT', 'DESIRED', 'START', 'STOP', 'MOVE', 'UNPLACED'],
      p.services.map((s) => [
        `${s.namespace}/${s.name}`,
        s.result,
        String(s.desired),
        String(s.start),
        String(s.stop),
        String(s.move),
        String(s.unplaced),
      ]),
    ),
  );
  for (const s of p.services)
    if (s.unplaced > 0) out.push(`  ${oneLine(`${s.namespace}/${s.name}: ${s.unplaced} cannot be placed: ${s.reason}`)}`);
  out.push('');
  out.push(
    table(
      ['NODE', 'STATE', 'AVAILABILITY', 'CPU FREE', 'MEMORY FREE', 'START', 'STOP', 'MOVE IN', 'MOVE OUT'],
      p.nodes.map((n) => [
        n.nodeId,
        n.state,
        n.availability,
        `${cpu(n.freeBefore)} -> ${cpu(n.freeAfter)}`,
        `${mem(n.freeBefore)} -> ${mem(n.freeAfter)}`,
        list(n.start),
        list(n.stop),
        list(n.moveIn, (t) => `${taskName(t)}<-${t.fromNode}`),
        list(n.moveOut, (t) => `${taskName(t)}->${t.toNode}`),
      ]),
    ),
  );
  const why = p.nodes.flatMap((n) => n.notChosen.map((c) => [n.nodeId, c.service, c.reason]));
  if (why.length > 0) {
    out.push('');
    out.push('Not chosen:');
    out.push(
      table(['NODE', 'SERVICE', 'WHY'], why)
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
  }
  return out.join('\n');
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('Show where the scheduler would place the services of the manifests (nothing is written)')
    .requiredOption('-f, --filename <path...>', 'manifest or Compose file, directory, or - for stdin (repeatable)')
    .option('-o, --output <format>', 'json')
    .action(async (opts: { filename: string[]; output?: string }, cmd: Command) => {
      if (opts.output !== undefined && opts.output !== 'json')
        throw new CliError(`-o: unknown output format ${JSON.stringify(opts.output)}; use json`, EXIT_USAGE);
      // Compose files plan as the services apply would make of them; Secrets place nothing.
      const docs = expandCompose(loadManifests(opts.filename), {
        warn: (line) => void process.stderr.write(`${escapeControl(line)}\n`),
      }).filter((d) => (d.doc as { kind?: unknown } | null)?.kind !== 'Secret');
      if (docs.length === 0) throw new CliError('no Service documents found in the given manifests');
      const plan = await withClient(cmd, (c) => c.plan(docs.map((d) => JSON.stringify(d.doc))));
      process.stdout.write(opts.output === 'json' ? toJson(plan) : planText(plan) + '\n');
    });
}
