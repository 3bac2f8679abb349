// berth scale NAME=N [NAME=N ...] [-n NS] [--expected-revision R] [--wait [--timeout D]]: set
// replica counts through the API (ManageAPI.ScaleService): each is a new revision, like any
// spec change, and replaces no running container.
import type { Command } from 'commander';
import { oneLine } from '../output.js';
import type { WaitTarget } from '../wait.js';
import { waitAndReport, waitOptions } from './apply.js';
import { manageClient } from './common.js';
import { CliError, EXIT_USAGE } from '../errors.js';

const NAME_RE = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?$/;

/** "web=5" → { name: 'web', replicas: 5 }; usage errors name the argument. */
export function parseScaleArg(arg: string): { name: string; replicas: number } {
  const i = arg.indexOf('=');
  if (i <= 0) throw new CliError(`${JSON.stringify(arg)}: expected NAME=REPLICAS, e.g. web=3`, EXIT_USAGE);
  const name = arg.slice(0, i);
  const count = arg.slice(i + 1);
  if (!NAME_RE.test(name) || name.length > 63)
    throw new CliError(`${JSON.stringify(arg)}: ${JSON.stringify(name)} is not a service name (DNS-1123 label)`, EXIT_USAGE);
  if (!/^[0-9]+$/.test(count))
    throw new CliError(`${JSON.stringify(arg)}: replicas must be a whole number, got ${JSON.stringify(count)}`, EXIT_USAGE);
  return { name, replicas: Number(count) };
}

export function registerScale(program: Command): void {
  program
    .command('scale')
    .description('Set the number of replicas of services: berth scale web=5 api=2')
    .argument('<name=replicas...>', 'service and its new replica count')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option(
      '--expected-revision <modRevision>',
      'only if the service is still at this store revision (see get -o json: status.modRevision); one service only',
    )
    .option('--wait', 'then wait until the services run the new number of replicas')
    .option('--timeout <duration>', 'with --wait: give up after this long (default 5m)')
    .action(
      async (args: string[], opts: { namespace: string; expectedRevision?: string; wait?: boolean; timeout?: string }, cmd: Command) => {
        const targets = args.map(parseScaleArg);
        const seen = new Set<string>();
        for (const t of targets) {
          if (seen.has(t.name)) throw new CliError(`${t.name} is named twice`, EXIT_USAGE);
          seen.add(t.name);
        }
        let expected = 0;
        if (opts.expectedRevision !== undefined) {
          if (!/^[1-9][0-9]*$/.test(opts.expectedRevision))
            throw new CliError('--expected-revision: expected a positive whole number', EXIT_USAGE);
          if (targets.length !== 1) throw new CliError('--expected-revision applies to one service at a time', EXIT_USAGE);
          expected = Number(opts.expectedRevision);
        }
        const timeoutMs = waitOptions(opts);
        const m = manageClient(cmd);
        const scaled: WaitTarget[] = [];
        try {
          for (const t of targets) {
            const res = await m.scaleService({ namespace: opts.namespace, name: t.name, replicas: t.replicas, expectedRevision: expected });
            const svc = res.service;
            const id = `service/${svc?.meta?.namespace ?? opts.namespace}/${svc?.meta?.name ?? t.name}`;
            process.stdout.write(
              oneLine(
                res.result === 'unchanged'
                  ? `${id} unchanged (${t.replicas} replicas, revision ${svc?.specRevision})`
                  : `${id} scaled ${res.previousReplicas} → ${t.replicas} (revision ${svc?.specRevision})`,
              ) + '\n',
            );
            scaled.push({ namespace: svc?.meta?.namespace ?? opts.namespace, name: t.name, revision: svc?.specRevision ?? 0 });
          }
          // The same connection waits (ManageClient is a BerthClient).
          if (timeoutMs !== undefined) await waitAndReport(m, scaled, timeoutMs);
        } finally {
          m.close();
        }
      },
    );
}
