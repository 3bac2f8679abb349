// berth logs SERVICE[/SLOT]: the merged logs of a service's replicas, each line prefixed with
// its replica and node (web.2@h1 | ...). Notices about replicas that cannot be read go to stderr.
import type { Command } from 'commander';
import type { LogLine__Output } from '../../../proto/gen/berth/v1/LogLine.js';
import { consume } from '../observe-client.js';
import { escapeControl } from '../output.js';
import { observeClient, parseCount, parseSince, parseTarget } from './observe-common.js';

/** web.2@h1 for a replicated service's slot 2 on h1; web@h1 for a global service's replica on h1. */
export function logPrefix(service: string, l: Pick<LogLine__Output, 'slot' | 'node'>): string {
  return escapeControl(`${service}${l.slot ? `.${l.slot}` : ''}@${l.node || '?'}`);
}

export function registerLogs(program: Command): void {
  program
    .command('logs')
    .description("Show the logs of a service's replicas, merged, each line prefixed with replica and node")
    .argument('<service>', 'SERVICE; SERVICE/SLOT or SERVICE@NODE for one replica')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-f, --follow', 'keep streaming (replicas that start later join) until interrupted')
    .option('--since <duration|time>', 'only lines since then (10m, 1h, or 2024-05-01T10:00:00Z)')
    .option('--tail <n>', 'only the last n lines of each replica')
    .option('-t, --timestamps', "show each line's time as the engine recorded it")
    .action(
      async (
        target: string,
        opts: { namespace: string; follow?: boolean; since?: string; tail?: string; timestamps?: boolean },
        cmd: Command,
      ) => {
        // Usage first (exit 2), then the connection.
        const { service, slot, node } = parseTarget(target);
        const sinceMs = parseSince('--since', opts.since, Date.now());
        const tail = parseCount('--tail', opts.tail) ?? -1;
        const c = observeClient(cmd);
        const stream = c.logs({ namespace: opts.namespace, service, slot, node, follow: !!opts.follow, sinceMs, tail });
        const write = (l: LogLine__Output): void => {
          const prefix = logPrefix(service, l);
          if (l.notice) {
            process.stderr.write(`${prefix} | -- ${escapeControl(l.notice)}\n`);
            return;
          }
          const head = `${prefix} | ${opts.timestamps && l.timestamp ? `${l.timestamp} ` : ''}`;
          // The line as the container wrote it (like docker logs); only our prefix is escaped.
          if (!process.stdout.write(Buffer.concat([Buffer.from(head), l.data, Buffer.from('\n')]))) {
            stream.pause();
            process.stdout.once('drain', () => stream.resume());
          }
        };
        try {
          await consume(stream, c, write);
        } finally {
          c.close();
        }
      },
    );
}
