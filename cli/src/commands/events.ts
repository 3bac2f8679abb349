// berth events: recent cluster events, oldest first; -f keeps following new ones.
import type { Command } from 'commander';
import type { Event__Output } from '../../../proto/gen/berth/v1/Event.js';
import { consume } from '../observe-client.js';
import { escapeControl, toJsonLine } from '../output.js';
import { checkOutputFormat } from './get.js';
import { collect as collectFlag } from './common.js';
import { observeClient, parseCount, parseSince } from './observe-common.js';

/** What an event is about, as people name it: default/web.2@h1, node/h1. */
export function eventObject(e: Event__Output): string {
  if (e.service) return `${e.namespace}/${e.service}${e.slot ? `.${e.slot}` : ''}${e.node ? `@${e.node}` : ''}`;
  if (e.node) return `node/${e.node}`;
  return e.namespace ? `${e.namespace}/-` : '-';
}

export function eventLine(e: Event__Output): string {
  const cols = [new Date(e.timeMs).toISOString(), e.type.padEnd(18), eventObject(e).padEnd(28), (e.state || '-').padEnd(9), e.message];
  return escapeControl(cols.join('  ')).replace(/\s+$/, '');
}

export function registerEvents(program: Command): void {
  program
    .command('events')
    .description('Show recent cluster events (service applied, task states, nodes, ...); -f follows new ones')
    .option('-f, --follow', 'keep printing new events until interrupted')
    .option('--since <duration|time>', 'only events since then (10m, 1h, or 2024-05-01T10:00:00Z)')
    .option('--limit <n>', 'at most this many of the recent events (default 100, at most 10000)')
    .option('-n, --namespace <ns>', 'only events of this namespace (default: every namespace, node events too)')
    .option('--service <name>', 'only events of this service')
    .option('--node <id>', 'only events about this node and the tasks on it')
    .option('--type <type>', 'only this type, or types starting with it (repeatable): service, task.state, node, ...', collectFlag)
    .option('-o, --output <format>', 'json: one event per line')
    .action(
      async (
        opts: {
          follow?: boolean;
          since?: string;
          limit?: string;
          namespace?: string;
          service?: string;
          node?: string;
          type?: string[];
          output?: string;
        },
        cmd: Command,
      ) => {
        // Usage first (exit 2), then the connection.
        checkOutputFormat(opts.output, ['json']);
        const sinceMs = parseSince('--since', opts.since, Date.now());
        const limit = parseCount('--limit', opts.limit) ?? 0;
        const c = observeClient(cmd);
        const stream = c.events({
          namespace: opts.namespace ?? '',
          service: opts.service ?? '',
          node: opts.node ?? '',
          types: opts.type ?? [],
          sinceMs,
          limit,
          follow: !!opts.follow,
        });
        const print = (e: Event__Output): void => {
          process.stdout.write(opts.output === 'json' ? toJsonLine(e) : `${eventLine(e)}\n`);
        };
        try {
          await consume(stream, c, print);
        } finally {
          c.close();
        }
      },
    );
}
