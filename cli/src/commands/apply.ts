// berth apply -f FILE|DIR|- : create or update the services in the manifests.
import type { Command } from 'commander';
import { validateServiceManifest } from '../../../proto/src/spec/service.js';
import { loadManifests } from '../manifest.js';
import { client } from './common.js';

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
    .action(async (opts: { filename: string[]; dryRun?: boolean }, cmd: Command) => {
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
      try {
        for (const d of docs) {
          const res = await c.applyService({ manifestJson: JSON.stringify(d.doc), dryRun: !!opts.dryRun });
          const name = `${res.service?.meta?.namespace}/${res.service?.meta?.name}`;
          const verb = res.result === 'unchanged' ? 'unchanged' : res.result === 'created' ? 'created' : 'configured';
          process.stdout.write(`service/${name} ${verb}${res.result !== 'unchanged' ? ` (revision ${res.service?.specRevision})` : ''}${opts.dryRun ? ' (dry run)' : ''}\n`);
        }
      } finally {
        c.close();
      }
    });
}
