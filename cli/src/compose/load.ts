// Compose files among the documents given to apply, convert or delete: each becomes its Berth
// Service manifests. What is not honoured is printed as a warning naming its path (an error with
// --strict); what cannot be converted stops the command before anything is sent.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { decodeUtf8, ManifestError, readLimited, type SourceDoc } from '../manifest.js';
import { convertCompose, isComposeDocument } from './convert.js';
import { parseEnvFile } from './interpolate.js';

export interface ComposeOptions {
  /** Keys that are not honoured are errors. */
  strict?: boolean;
  /** Where warnings and notes go (stderr). */
  warn: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** .env and env_file: the same bounded read as manifests (the caller names the file). */
function readText(path: string): string {
  return decodeUtf8(
    path,
    readLimited(path, (reason) => new Error(reason)),
  );
}

export function expandCompose(docs: SourceDoc[], opts: ComposeOptions): SourceDoc[] {
  const out: SourceDoc[] = [];
  const problems: string[] = [];
  for (const d of docs) {
    if (!isComposeDocument(d.doc)) {
      out.push(d);
      continue;
    }
    const projectDir = d.source === 'stdin' ? resolve(opts.cwd ?? process.cwd()) : dirname(resolve(d.source));
    // Like Compose: variables of the shell win over those of the project's .env file.
    const dotenvPath = join(projectDir, '.env');
    const dotenv = existsSync(dotenvPath) ? parseEnvFile(readText(dotenvPath)).vars : {};
    const env = { ...dotenv, ...(opts.env ?? process.env) };
    const r = convertCompose(d.doc, { projectDir, env, readFile: readText, home: env['HOME'] ?? homedir() });
    const at = (path: string): string => `${d.source}: ${path}`;
    for (const n of r.notes) opts.warn(`note: ${at(n.path)}: ${n.message}`);
    for (const i of r.ignored) {
      if (opts.strict) problems.push(`${at(i.path)}: ${i.message}`);
      else opts.warn(`warning: ${at(i.path)}: ${i.message}`);
    }
    for (const e of r.errors) problems.push(`${at(e.path)}: ${e.message}`);
    for (const m of r.manifests) out.push({ source: d.source, index: d.index, doc: m });
  }
  if (problems.length > 0) {
    throw new ManifestError(
      `cannot convert the Compose file${opts.strict ? ' (--strict: keys that are not honoured are errors)' : ''}; nothing was sent:\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
  }
  return out;
}
