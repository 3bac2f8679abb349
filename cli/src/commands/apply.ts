// berth apply -f FILE|DIR|- : create or update the services and secrets in the manifests (Compose
// files are converted on the way: ../compose/); with --wait, then wait until the services
// converge (../wait.ts).
import type { Command } from 'commander';
import { expandCompose } from '../compose/load.js';
import { checkDocuments } from '../documents.js';
import { loadManifests } from '../manifest.js';
import { status as grpcStatus } from '@grpc/grpc-js';
import { ApiError, type BerthClient } from '../client.js';
import { RolloutClient } from '../rollout-client.js';
import { escapeControl, oneLine } from '../output.js';
import { SecretClient } from '../secret-client.js';
import { DEFAULT_WAIT_TIMEOUT, parseTimeout, waitFailure, waitForServices, type WaitTarget } from '../wait.js';
import { controllerAddress } from './common.js';
import { CliError, EXIT_FAILED, EXIT_USAGE } from '../errors.js';

export function registerApply(program: Command): void {
  program
    .command('apply')
    .description(
      'Create or update services, secrets and policies from manifests or Compose files (YAML or JSON; files, directories or - for stdin)',
    )
    .requiredOption('-f, --filename <path...>', 'manifest file, directory, or - for stdin (repeatable)')
    .option('--dry-run', 'validate and compare with what is stored, write nothing')
    .option(
      '--wait',
      'then wait until every applied service runs its desired replicas at the new spec; exit 1 with the reason if it fails or times out',
    )
    .option('--timeout <duration>', `with --wait: give up after this long (default ${DEFAULT_WAIT_TIMEOUT})`)
    .option('--strict', 'Compose files: keys Berth does not honour are errors instead of warnings')
    .action(async (opts: { filename: string[]; dryRun?: boolean; wait?: boolean; timeout?: string; strict?: boolean }, cmd: Command) => {
      const timeoutMs = waitOptions(opts);
      const docs = expandCompose(loadManifests(opts.filename), {
        strict: !!opts.strict,
        warn: (line) => void process.stderr.write(`${escapeControl(line)}\n`),
      });
      if (docs.length === 0) throw new CliError('no documents found in the given manifests');
      // Validate everything first: one bad document applies none of them.
      const checked = checkDocuments(docs);
      if (checked.problems.length > 0) throw new CliError(`invalid manifest, nothing applied:\n${checked.problems.join('\n')}`);
      // One connection for both APIs (SecretClient extends the ControlAPI client).
      const c = new SecretClient(controllerAddress(cmd));
      const applied: WaitTarget[] = [];
      try {
        // Policies first: services may need their exceptions. Then secrets: services refer to them.
        for (const d of checked.docs.filter((x) => x.kind === 'Policy')) {
          const res = await c.applyPolicy({ manifestJson: JSON.stringify(d.source.doc), dryRun: !!opts.dryRun });
          const name = `${res.policy?.meta?.namespace}/${res.policy?.meta?.name}`;
          const verb = res.result === 'unchanged' ? 'unchanged' : res.result === 'created' ? 'created' : 'configured';
          process.stdout.write(oneLine(`policy/${name} ${verb}${opts.dryRun ? ' (dry run)' : ''}`) + '\n');
        }
        for (const d of checked.docs.filter((x) => x.kind === 'Secret')) {
          const res = await c.applySecret({ manifestJson: JSON.stringify(d.source.doc), dryRun: !!opts.dryRun });
          const name = `${res.secret?.meta?.namespace}/${res.secret?.meta?.name}`;
          const verb = res.result === 'unchanged' ? 'unchanged' : res.result === 'created' ? 'created' : 'configured';
          process.stdout.write(
            oneLine(
              `secret/${name} ${verb}${res.result !== 'unchanged' ? ` (version ${res.secret?.version})` : ''}${opts.dryRun ? ' (dry run)' : ''}`,
            ) + '\n',
          );
        }
        for (const d of checked.docs.filter((x) => x.kind === 'Service')) {
          const res = await c.applyService({ manifestJson: JSON.stringify(d.source.doc), dryRun: !!opts.dryRun });
          applied.push({
            namespace: res.service?.meta?.namespace ?? '',
            name: res.service?.meta?.name ?? '',
            revision: res.service?.specRevision ?? 0,
          });
          const name = `${res.service?.meta?.namespace}/${res.service?.meta?.name}`;
          const verb = res.result === 'unchanged' ? 'unchanged' : res.result === 'created' ? 'created' : 'configured';
          process.stdout.write(
            oneLine(
              `service/${name} ${verb}${res.result !== 'unchanged' ? ` (revision ${res.service?.specRevision})` : ''}${opts.dryRun ? ' (dry run)' : ''}`,
            ) + '\n',
          );
        }
        if (timeoutMs !== undefined) await waitAndReport(c, applied, timeoutMs);
      } finally {
        c.close();
      }
    });
}

/** --wait / --timeout: the timeout in ms when waiting, undefined when not; usage errors otherwise. */
export function waitOptions(opts: { wait?: boolean; timeout?: string; dryRun?: boolean }): number | undefined {
  if (opts.timeout !== undefined && !opts.wait) throw new CliError('--timeout needs --wait', EXIT_USAGE);
  if (!opts.wait) return undefined;
  if (opts.dryRun) throw new CliError('--wait and --dry-run exclude each other (a dry run changes nothing to wait for)', EXIT_USAGE);
  const ms = parseTimeout(opts.timeout ?? DEFAULT_WAIT_TIMEOUT);
  if (typeof ms === 'string') throw new CliError(`--timeout: ${ms}`, EXIT_USAGE);
  return ms;
}

/**
 * Waits for the services (apply --wait, scale --wait), printing progress, with the rollout state
 * of each (RolloutAPI) folded in; CliError (exit 1) naming what did not converge and why.
 */
export async function waitAndReport(c: BerthClient, targets: WaitTarget[], timeoutMs: number): Promise<void> {
  const rollouts = new RolloutClient(c.address);
  try {
    const outcomes = await waitForServices(c, targets, {
      timeoutMs,
      onProgress: (t, line) => process.stdout.write(oneLine(`service/${t.namespace}/${t.name}: ${line}`) + '\n'),
      // The controller's own view, as a stream; a controller without WatchService is polled.
      watch: (t, onStep, signal) => rollouts.watchService(t.namespace, t.name, onStep, signal),
      rollout: async (t) => {
        try {
          return await rollouts.get(t.namespace, t.name);
        } catch (err) {
          // A controller without the rollout API, or a service it has not looked at yet: tasks alone decide.
          if (err instanceof ApiError && (err.code === grpcStatus.UNIMPLEMENTED || err.code === grpcStatus.NOT_FOUND)) return undefined;
          throw err;
        }
      },
    });
    const failure = waitFailure(outcomes);
    if (failure) throw new CliError(failure, EXIT_FAILED);
  } finally {
    rollouts.close();
  }
}
