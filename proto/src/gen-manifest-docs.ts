// Writes the generated field reference into docs/manifest.md (`npm run docs:manifest`);
// with --check, exits 1 when the file is stale instead.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withReference } from './spec/docs.js';

/** The repository root, from this file in proto/src or dist/proto/src. */
function root(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, 'docs', 'manifest.md'))) return dir;
  }
  throw new Error('cannot find docs/manifest.md');
}

const file = join(root(), 'docs', 'manifest.md');
const current = readFileSync(file, 'utf8');
const next = withReference(current);
if (process.argv.includes('--check')) {
  if (next !== current) {
    process.stderr.write('docs/manifest.md is stale: run npm run docs:manifest\n');
    process.exit(1);
  }
  process.stdout.write('docs/manifest.md is up to date\n');
} else if (next !== current) {
  writeFileSync(file, next);
  process.stdout.write('wrote the field reference of docs/manifest.md\n');
} else process.stdout.write('docs/manifest.md was up to date\n');
