// berth apply -f FILE|DIR|- : create or update the services and secrets in the manifests
// (Compose files are converted on the way: cli/src/compose/).
import type { Command } from 'commander';
import { expandCompose } from '../compose/load.js';
import { checkDocuments } from '../documents.js';
import { loadManifests } from '../manifest.js';
import { escapeControl } from '../output.js';
import { SecretClient } from '../secret-client.js';
import { controllerAddress } from './common.js';

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

export function registerApply(program: Command): void {
  program
    .command('apply')
    .description('Create or update services and secrets from manifests or Compose files (YAML or JSON; files, directories or - for stdin)')
    .requiredOption('-f, --filename <path...>', 'manifest file, directory, or - for stdin (repeatable)')
    .option('--dry-run', 'validate and compare with what is stored, write nothing')
    .option('--strict', 'Compose files: keys Berth does not honour are errors instead of warnings')
    .action(async (opts: { filename: string[]; dryRun?: boolean; strict?: boolean }, cmd: Command) => {
      const docs = expandCompose(loadManifests(opts.filename), { strict: !!opts.strict, warn: (line) => void process.stderr.write(`${escapeControl(line)}\n`) });
      if (docs.length === 0) throw new CliError('no documents found in the given manifests');
      // Validate everything first: one bad document applies none of them.
      const checked = checkDocuments(docs);
      if (checked.problems.length > 0) throw new CliError(`invalid manifest, nothing applied:\n${checked.problems.join('\n')}`);
      // One connection for both APIs (SecretClient extends the ControlAPI client).
      const c = new SecretClient(controllerAddress(cmd));
      const suffix = opts.dryRun ? ' (dry run)' : '';
      try {
        // Secrets first: services will refer to them.
        for (const d of checked.docs.filter((x) => x.kind === 'Secret')) {
          const res = await c.applySecret({ manifestJson: JSON.stringify(d.source.doc), dryRun: !!opts.dryRun });
          const name = `${res.secret?.meta?.namespace}/${res.secret?.meta?.name}`;
          const verb = res.result === 'unchanged' ? 'unchanged' : res.result === 'created' ? 'created' : 'configured';
          process.stdout.write(`secret/${name} ${verb}${res.result !== 'unchanged' ? ` (version ${res.secret?.version})` : ''}${suffix}\n`);
        }
        for (const d of checked.docs.filter((x) => x.kind === 'Service')) {
          const res = await c.applyService({ manifestJson: JSON.stringify(d.source.doc), dryRun: !!opts.dryRun });
          const name = `${res.service?.meta?.namespace}/${res.service?.meta?.name}`;
          const verb = res.result === 'unchanged' ? 'unchanged' : res.result === 'created' ? 'created' : 'configured';
          process.stdout.write(`service/${name} ${verb}${res.result !== 'unchanged' ? ` (revision ${res.service?.specRevision})` : ''}${suffix}\n`);
        }
      } finally {
        c.close();
      }
    });
}
