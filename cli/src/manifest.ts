// Reading manifests from files, directories and stdin: YAML (multi-document) or JSON, parsed
// with limits so hostile input fails fast and cleanly.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** Largest manifest file (and document) accepted. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
/** Aliases per document: a YAML "billion laughs" needs many. */
export const MAX_ALIASES = 100;

export interface SourceDoc {
  /** file name (or "stdin") and document index, for messages */
  source: string;
  index: number;
  doc: unknown;
}

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

export function readSources(paths: string[], stdin: () => string = () => readFileSync(0, 'utf8')): Array<{ source: string; text: string }> {
  const out: Array<{ source: string; text: string }> = [];
  for (const p of paths) {
    if (p === '-') {
      out.push({ source: 'stdin', text: stdin() });
      continue;
    }
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new ManifestError(`${p}: no such file or directory`);
    }
    if (st.isDirectory()) {
      const files = readdirSync(p).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
      if (files.length === 0) throw new ManifestError(`${p}: no .yaml, .yml or .json files in directory`);
      for (const f of files) out.push(readOne(join(p, f)));
    } else out.push(readOne(p));
  }
  return out;
}

function readOne(path: string): { source: string; text: string } {
  const size = statSync(path).size;
  if (size > MAX_MANIFEST_BYTES) throw new ManifestError(`${path}: ${size} bytes is larger than the 1 MiB limit`);
  return { source: path, text: readFileSync(path, 'utf8') };
}

export function parseDocuments(source: string, text: string): SourceDoc[] {
  if (Buffer.byteLength(text) > MAX_MANIFEST_BYTES) throw new ManifestError(`${source}: larger than the 1 MiB limit`);
  const docs = parseAllDocuments(text, { uniqueKeys: true, strict: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const out: SourceDoc[] = [];
  list.forEach((d, i) => {
    const err = d.errors[0];
    if (err) throw new ManifestError(`${source}: document ${i + 1}: ${err.message.split('\n')[0]}`);
    let value: unknown;
    try {
      value = d.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (e) {
      throw new ManifestError(`${source}: document ${i + 1}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (value === null || value === undefined) return; // empty document (e.g. trailing ---)
    out.push({ source, index: i + 1, doc: value });
  });
  return out;
}

export function loadManifests(paths: string[], stdin?: () => string): SourceDoc[] {
  return readSources(paths, stdin).flatMap(({ source, text }) => parseDocuments(source, text));
}
