// berth convert -f docker-compose.yml: prints the Berth manifests a Compose file becomes (YAML,
// one document per service), with the same warnings `berth apply` gives. Berth manifests among
// the inputs are printed as they are.
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { expandCompose } from '../compose/load.js';
import { loadManifests } from '../manifest.js';
import { escapeControl } from '../output.js';
import { CliError } from '../errors.js';

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description('Print the Berth manifests of a Compose file (YAML, multi-document)')
    .requiredOption('-f, --filename <path...>', 'Compose file, directory, or - for stdin (repeatable)')
    .option('--strict', 'keys Berth does not honour are errors instead of warnings')
    .action((opts: { filename: string[]; strict?: boolean }) => {
      const docs = expandCompose(loadManifests(opts.filename), {
        strict: !!opts.strict,
        warn: (line) => void process.stderr.write(`${escapeControl(line)}\n`),
      });
      if (docs.length === 0) throw new CliError('no documents found in the given files');
      process.stdout.write(docs.map((d) => stringify(d.doc, { lineWidth: 0 })).join('---\n'));
    });
}
