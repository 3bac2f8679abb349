// berth diff -f FILE|DIR|- [-o json]: what apply would change, field by field, against what is
// stored. The controller computes it with apply's own dry run (ManageAPI.DiffService), so the
// answer is exactly what apply would do; the CLI shows both sides in the form a person writes.
//
// Exit codes as diff(1) and kubectl diff: 0 no differences, 1 differences, 2 error (usage,
// invalid manifest, refused by the controller), 3 controller unreachable.
import type { Command } from 'commander';
import type { Service__Output } from '../../../proto/gen/berth/v1/Service.js';
import { ApiError, isUnreachable } from '../client.js';
import { diffValues, renderChanges, type Change, type Painter } from '../diff.js';
import { expandCompose } from '../compose/load.js';
import { loadManifests, type SourceDoc } from '../manifest.js';
import type { ManageClient } from '../manage-client.js';
import { COLOR, escapeControl, paint, toJson, useColor } from '../output.js';
import { humanSpec, sortedMap } from '../views.js';
import { checkOutputFormat } from './get.js';
import { manageClient } from './common.js';
import { CliError, EXIT_USAGE, EXIT_UNAVAILABLE } from '../errors.js';

/** Exit code of a diff that found differences (0: none). */
export const EXIT_DIFFERENCES = 1;
/** Exit code of a diff that could not compare (kubectl diff: "> 1"). */
export const EXIT_DIFF_ERROR = EXIT_USAGE;

export interface DocumentDiff {
  kind: 'Service';
  namespace: string;
  name: string;
  /** created | updated | unchanged, as apply would answer. */
  result: string;
  fromRevision: number | null;
  toRevision: number;
  changes: Change[];
}

/** The part of a service apply writes, in the form a person writes it. */
export function comparable(
  s: Service__Output | null | undefined,
): { metadata: { labels: Record<string, string> }; spec: unknown } | undefined {
  if (!s) return undefined;
  return { metadata: { labels: sortedMap(s.meta?.labels) }, spec: humanSpec(s.specJson) };
}

export function documentDiff(result: string, stored: Service__Output | null | undefined, proposed: Service__Output): DocumentDiff {
  const to = comparable(proposed)!;
  // A new service: every field it sets, one line per top-level field of metadata.labels and spec.
  const from = comparable(stored) ?? { metadata: { labels: {} }, spec: {} };
  return {
    kind: 'Service',
    namespace: proposed.meta?.namespace ?? '',
    name: proposed.meta?.name ?? '',
    result,
    fromRevision: stored ? stored.specRevision : null,
    toRevision: proposed.specRevision,
    changes: diffValues(from, to),
  };
}

export function renderDiff(d: DocumentDiff, color: boolean): string {
  const head = `service/${d.namespace}/${d.name}`;
  const painter: Painter = (t, kind) =>
    paint(escapeControl(t), kind === 'added' ? COLOR.green : kind === 'removed' ? COLOR.red : COLOR.yellow, color);
  if (d.result === 'unchanged' || d.changes.length === 0) return `${escapeControl(head)}: no changes\n`;
  const what =
    d.result === 'created'
      ? `created (revision ${d.toRevision})`
      : d.fromRevision === d.toRevision
        ? `changed (labels only; revision ${d.toRevision} stays)`
        : `changed (revision ${d.fromRevision} → ${d.toRevision})`;
  return `${escapeControl(`${head}: ${what}`)}\n${renderChanges(d.changes, painter).join('\n')}\n`;
}

/** Any error of a diff exits 2 (3 when the controller cannot be reached): 1 means "differences". */
function asDiffError(err: unknown): unknown {
  if (err instanceof ApiError) {
    return new CliError(err.message, isUnreachable(err) ? EXIT_UNAVAILABLE : EXIT_DIFF_ERROR);
  }
  if (err instanceof CliError)
    return err.exitCode === EXIT_UNAVAILABLE ? err : new CliError(err.message, Math.max(EXIT_DIFF_ERROR, err.exitCode));
  if (err instanceof Error) return new CliError(err.message, EXIT_DIFF_ERROR);
  return err;
}

/** "file (document 2)": where a document came from, for messages. */
function where(d: SourceDoc): string {
  return `${d.source} (document ${d.index})`;
}

/**
 * Asks the controller about every document before printing anything: the controller validates
 * (the same validation as apply), and one invalid document compares none. Problems of every
 * document are reported together; an unreachable controller ends it at once.
 */
async function compareAll(c: ManageClient, docs: SourceDoc[]): Promise<DocumentDiff[]> {
  if (docs.length === 0) throw new CliError('no documents found in the given manifests', EXIT_DIFF_ERROR);
  const diffs: DocumentDiff[] = [];
  const problems: string[] = [];
  for (const d of docs) {
    const kind = (d.doc as { kind?: unknown } | null)?.kind;
    if (kind === 'Secret') {
      // Values are never read back from the controller, so there is nothing to compare them with.
      const name = (d.doc as { metadata?: { name?: unknown } }).metadata?.name;
      process.stderr.write(
        `${escapeControl(`${where(d)}: secret ${typeof name === 'string' ? name : '?'} not compared (secret values are never read back; berth get secrets shows keys and sizes)`)}\n`,
      );
      continue;
    }
    if (kind !== 'Service') {
      problems.push(
        `${where(d)}:\n  kind: ${kind === undefined ? 'required field is missing' : `unsupported kind ${JSON.stringify(kind)}; diff compares: Service (Secret: noted, not compared)`}`,
      );
      continue;
    }
    try {
      const res = await c.diffService(JSON.stringify(d.doc));
      if (!res.proposed) throw new Error('the controller answered without the proposed service');
      diffs.push(documentDiff(res.result, res.stored, res.proposed));
    } catch (err) {
      if (!(err instanceof ApiError) || isUnreachable(err)) throw err;
      problems.push(`${where(d)}: ${err.message}`);
    }
  }
  if (problems.length > 0) throw new CliError(`nothing compared:\n${problems.join('\n')}`, EXIT_DIFF_ERROR);
  if (diffs.length === 0) throw new CliError('no Service documents to compare', EXIT_DIFF_ERROR);
  return diffs;
}

export function registerDiff(program: Command): void {
  program
    .command('diff')
    .description('Show what apply would change, field by field, against what is stored (exit 0: none, 1: differences, 2: error)')
    .requiredOption('-f, --filename <path...>', 'manifest or Compose file, directory, or - for stdin (repeatable)')
    .option('-o, --output <format>', 'json: the changes as data')
    .action(async (opts: { filename: string[]; output?: string }, cmd: Command) => {
      let differences = false;
      try {
        checkOutputFormat(opts.output, ['json']);
        // Compose files compare as the services apply would make of them.
        const docs = expandCompose(loadManifests(opts.filename), { warn: (line) => void process.stderr.write(`${escapeControl(line)}\n`) });
        const c = manageClient(cmd);
        let diffs: DocumentDiff[];
        try {
          diffs = await compareAll(c, docs);
        } finally {
          c.close();
        }
        differences = diffs.some((d) => d.result !== 'unchanged' && d.changes.length > 0);
        if (opts.output === 'json') process.stdout.write(toJson({ differences, items: diffs }));
        else {
          const color = useColor();
          for (const d of diffs) process.stdout.write(renderDiff(d, color));
        }
      } catch (err) {
        throw asDiffError(err);
      }
      // Not an error: main() exits with process.exitCode after a command that returned normally.
      if (differences) process.exitCode = EXIT_DIFFERENCES;
    });
}
