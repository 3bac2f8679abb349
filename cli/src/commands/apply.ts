// berth apply -f FILE|DIR|- : create or update the services in the manifests; with --wait, then
// wait until they converge (../wait.ts).
import type { Command } from 'commander';
import { validateServiceManifest } from '../../../proto/src/spec/service.js';
import { loadManifests } from '../manifest.js';
import { status as grpcStatus } from '@grpc/grpc-js';
import { ApiError, type BerthClient } from '../client.js';
import { RolloutClient } from '../rollout-client.js';
import { oneLine } from '../output.js';
import { DEFAULT_WAIT_TIMEOUT, parseTimeout, waitFailure, waitForServices, type WaitTarget } from '../wait.js';
import { client, controllerAddress, EXIT_FAILED, EXIT_USAGE } from './common.js';

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

function describeDoc(d: { source: string; index: number; doc: unknown }): string {
  const o = d.doc as { kind?: unknown; metadata?: { name?: unknown } } | null;
  const name = typeof o?.metadata?.name === 'string' ? o.metadata.name : '?';
  const kind = typeof o?.kind === 'string' ? o.kind : 'document';
  return `${d.source} (document ${d.index}, ${kind} ${name})`;
}

export function registerApply(program: Command): void {
  program
    .command('apply')
    .description('Create or update services from manifests (YAML or JSON; files, directories or - for stdin)')
    .requiredOption('-f, --filename <path...>', 'manifest file, directory, or - for stdin (repeatable)')
    .option('--dry-run', 'validate and compare with what is stored, write nothing')
    .option('--wait', 'then wait until every applied service runs its desired replicas at the new spec; exit 1 with the reason if it fails or times out')
    .option('--timeout <duration>', `with --wait: give up after this long (default ${DEFAULT_WAIT_TIMEOUT})`)
    .action(async (opts: { filename: string[]; dryRun?: boolean; wait?: boolean; timeout?: string }, cmd: Command) => {
      const timeoutMs = waitOptions(opts);
      const docs = loadManifests(opts.filename);
      if (docs.length === 0) throw new CliError('no documents found in the given manifests');
      // Validate everything first: one bad document applies none of them.
      const problems: string[] = [];
      for (const d of docs) {
        const kind = (d.doc as { kind?: unknown } | null)?.kind;
        if (kind !== 'Service') {
          problems.push(`${describeDoc(d)}:\n  kind: ${kind === undefined ? 'required field is missing' : `unsupported kind ${JSON.stringify(kind)}; this version applies: Service`}`);
          continue;
        }
        const v = validateServiceManifest(d.doc);
        if (!v.ok) problems.push(`${describeDoc(d)}:\n${v.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
      }
      if (problems.length > 0) throw new CliError(`invalid manifest, nothing applied:\n${problems.join('\n')}`);
      const c = client(cmd);
      const applied: WaitTarget[] = [];
      try {
        for (const d of docs) {
          const res = await c.applyService({ manifestJson: JSON.stringify(d.doc), dryRun: !!opts.dryRun });
          applied.push({ namespace: res.service?.meta?.namespace ?? '', name: res.service?.meta?.name ?? '', revision: res.service?.specRevision ?? 0 });
          const name = `${res.service?.meta?.namespace}/${res.service?.meta?.name}`;
          const verb = res.result === 'unchanged' ? 'unchanged' : res.result === 'created' ? 'created' : 'configured';
          process.stdout.write(oneLine(`service/${name} ${verb}${res.result !== 'unchanged' ? ` (revision ${res.service?.specRevision})` : ''}${opts.dryRun ? ' (dry run)' : ''}`) + '\n');
        }
        if (timeoutMs !== undefined) await waitAndReport(c, applied, timeoutMs, controllerAddress(cmd));
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
export async function waitAndReport(c: BerthClient, targets: WaitTarget[], timeoutMs: number, address: string): Promise<void> {
  const rollouts = new RolloutClient(address);
  try {
    const outcomes = await waitForServices(c, targets, {
      timeoutMs,
      onProgress: (t, line) => process.stdout.write(oneLine(`service/${t.namespace}/${t.name}: ${line}`) + '\n'),
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
