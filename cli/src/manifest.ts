// Reading manifests from files, directories and stdin: YAML (multi-document) or JSON, parsed
// with limits so hostile input fails fast and cleanly (proto/src/spec/limits.ts):
// - size: files over 1 MiB are refused before they are read whole;
// - encoding: bytes that are not UTF-8 are refused with their position, never replaced;
// - nesting: flow collections ([[[[…) are measured by the YAML lexer before anything is built,
//   block nesting while walking the syntax tree;
// - keys: duplicates and prototype keys (__proto__, constructor, prototype) are refused with
//   their path and line, in linear time (the yaml package's own uniqueKeys check is quadratic);
// - aliases: at most MAX_ALIASES resolved per document ("billion laughs");
// - tags: only YAML's core ones (a custom !tag is an error, not a silent string).
import { closeSync, fstatSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isAlias, isMap, isPair, isScalar, isSeq, Lexer, parseAllDocuments, type Document, type Node as YamlNode } from 'yaml';
import { FORBIDDEN_KEYS, MAX_ALIASES, MAX_DEPTH, MAX_DOCUMENT_BYTES, childPath, forbiddenKeyMessage } from '../../proto/src/spec/limits.js';

/** Largest manifest file (and document) accepted. */
export const MAX_MANIFEST_BYTES = MAX_DOCUMENT_BYTES;
export { MAX_ALIASES, MAX_DEPTH };

/** Tags of YAML's core schema (plus merge keys); anything else is refused. */
const CORE_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq', 'merge'].map((t) => `tag:yaml.org,2002:${t}`));

export interface SourceDoc {
  /** file name (or "stdin") and document index, for messages */
  source: string;
  index: number;
  doc: unknown;
}

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

export function readSources(
  paths: string[],
  stdin: () => string | Buffer = () => readFileSync(0),
): Array<{ source: string; text: string }> {
  const out: Array<{ source: string; text: string }> = [];
  for (const p of paths) {
    if (p === '-') {
      const input = stdin();
      out.push({ source: 'stdin', text: typeof input === 'string' ? input : decodeUtf8('stdin', input) });
      continue;
    }
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new ManifestError(`${p}: no such file or directory`);
    }
    if (st.isDirectory()) {
      const files = readdirSync(p)
        .filter((f) => /\.(ya?ml|json)$/.test(f))
        .sort();
      if (files.length === 0) throw new ManifestError(`${p}: no .yaml, .yml or .json files in directory`);
      for (const f of files) out.push(readOne(join(p, f)));
    } else out.push(readOne(p));
  }
  return out;
}

/**
 * A file's bytes, refused past the 1 MiB limit (`refuse` makes the error from the reason). Reads
 * at most the limit plus one byte: a file that grows after stat() is still refused.
 */
export function readLimited(path: string, refuse: (reason: string) => Error): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_MANIFEST_BYTES) throw refuse(`${size} bytes is larger than the 1 MiB limit`);
    const buf = Buffer.alloc(MAX_MANIFEST_BYTES + 1);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
    if (n > MAX_MANIFEST_BYTES) throw refuse('larger than the 1 MiB limit');
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function readOne(path: string): { source: string; text: string } {
  return {
    source: path,
    text: decodeUtf8(
      path,
      readLimited(path, (reason) => new ManifestError(`${path}: ${reason}`)),
    ),
  };
}

/** Byte offset of the first byte that is not part of a well-formed UTF-8 sequence, or -1. */
export function invalidUtf8Offset(buf: Uint8Array): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/** UTF-8 text of a file, or a ManifestError naming the first bad byte's line and column. */
export function decodeUtf8(source: string, buf: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    const at = invalidUtf8Offset(buf);
    if ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff)) {
      throw new ManifestError(`${source}: the file is UTF-16 text; save it as UTF-8`);
    }
    let line = 1;
    let lineStart = 0;
    for (let k = 0; k < at; k++) {
      if (buf[k] === 0x0a) {
        line++;
        lineStart = k + 1;
      }
    }
    const col = new TextDecoder('utf-8').decode(buf.subarray(lineStart, at)).length + 1;
    throw new ManifestError(
      `${source}: not valid UTF-8: byte 0x${(buf[at] ?? 0).toString(16).padStart(2, '0')} at offset ${at} (line ${line}, column ${col}); save the file as UTF-8`,
    );
  }
}

/** Deepest nesting of flow collections ([ and {), found by the lexer without building anything. */
function flowDepthOver(text: string, limit: number): boolean {
  // Fewer brackets than the limit cannot nest deeper than it: skip the lexer (most manifests).
  let brackets = 0;
  for (let i = 0; i < text.length && brackets <= limit; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) brackets++;
  }
  if (brackets <= limit) return false;
  let depth = 0;
  for (const tok of new Lexer().lex(text)) {
    if (tok === '[' || tok === '{') {
      if (++depth > limit) return true;
    } else if (tok === ']' || tok === '}') depth = Math.max(0, depth - 1);
  }
  return false;
}

interface WalkProblem {
  path: string;
  offset: number;
  message: string;
}

interface Frame {
  node: unknown;
  parent: Frame | undefined;
  key: string | number | undefined;
  depth: number;
}

/** The path of a frame, built only when a problem is reported. */
function framePath(f: Frame | undefined): string {
  const keys: Array<string | number> = [];
  for (let x = f; x?.key !== undefined; x = x.parent) keys.push(x.key);
  return keys.reverse().reduce<string>((p, k) => childPath(p, k), '');
}

/**
 * Walks a document's syntax tree (iteratively: no recursion to exhaust) for nesting depth,
 * duplicate and prototype keys, non-scalar keys and unknown tags. Also says whether the document
 * uses aliases (only then can its built value be deeper than its tree).
 */
function checkTree(doc: Document.Parsed): { problem?: WalkProblem; aliases: boolean } {
  const stack: Frame[] = [{ node: doc.contents, parent: undefined, key: undefined, depth: 0 }];
  let aliases = false;
  const problem = (f: Frame, offset: number, message: string): { problem: WalkProblem; aliases: boolean } => ({
    problem: { path: framePath(f), offset, message },
    aliases,
  });
  while (stack.length > 0) {
    const f = stack.pop()!;
    const { node, depth } = f;
    if (node === null || node === undefined) continue;
    if (isAlias(node)) {
      aliases = true;
      continue;
    }
    const n = node as YamlNode;
    const offset = n.range?.[0] ?? 0;
    if (n.tag !== undefined && !CORE_TAGS.has(n.tag))
      return problem(f, offset, `the tag ${n.tag.replace(/^tag:yaml\.org,2002:/, '!!')} is not supported (only YAML's core tags)`);
    if (isScalar(n)) continue;
    if (depth >= MAX_DEPTH) return problem(f, offset, `nested deeper than ${MAX_DEPTH} levels`);
    if (isSeq(n)) {
      n.items.forEach((item, i) => stack.push({ node: item, parent: f, key: i, depth: depth + 1 }));
    } else if (isMap(n)) {
      const seen = new Set<string>();
      for (const pair of n.items) {
        if (!isPair(pair)) continue;
        const k = pair.key;
        if (!isScalar(k))
          return problem(f, (k as YamlNode | null)?.range?.[0] ?? offset, 'keys must be plain strings, not lists, mappings or aliases');
        const key = String(k.value);
        const child: Frame = { node: pair.value, parent: f, key, depth: depth + 1 };
        const at = k.range?.[0] ?? offset;
        if (FORBIDDEN_KEYS.has(key)) return problem(child, at, forbiddenKeyMessage(key));
        if (key !== '<<' && seen.has(key)) return problem(child, at, 'duplicate key (each key may appear once)');
        seen.add(key);
        stack.push(child);
      }
    }
  }
  return { aliases };
}

/** Depth of a built value (aliases may nest what the tree walk saw shallow). */
function valueTooDeep(value: unknown): boolean {
  const stack: Array<{ v: unknown; d: number }> = [{ v: value, d: 0 }];
  while (stack.length > 0) {
    const { v, d } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d >= MAX_DEPTH) return true;
    for (const child of Object.values(v as Record<string, unknown>))
      if (child !== null && typeof child === 'object') stack.push({ v: child, d: d + 1 });
  }
  return false;
}

/** 1-based line and column of a character offset (only computed for a message). */
function linePos(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, col: offset - start + 1 };
}

/** A path for a message: a hostile one can be thousands of characters long. */
function shortPath(path: string): string {
  return path.length > MAX_PATH_SHOWN ? `${path.slice(0, MAX_PATH_SHOWN)}…` : path;
}
const MAX_PATH_SHOWN = 120;

export function parseDocuments(source: string, text: string): SourceDoc[] {
  if (text.length > MAX_MANIFEST_BYTES || Buffer.byteLength(text) > MAX_MANIFEST_BYTES)
    throw new ManifestError(`${source}: larger than the 1 MiB limit`);
  if (flowDepthOver(text, MAX_DEPTH)) throw new ManifestError(`${source}: nested deeper than ${MAX_DEPTH} levels`);
  let docs: Array<Document.Parsed>;
  try {
    // uniqueKeys off: checkTree finds duplicates in linear time. merge: Compose files use <<.
    docs = parseAllDocuments(text, { uniqueKeys: false, strict: true, prettyErrors: false, merge: true }) as Array<Document.Parsed>;
  } catch (e) {
    throw new ManifestError(`${source}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const out: SourceDoc[] = [];
  docs.forEach((d, i) => {
    const where = (offset: number): string => {
      const { line, col } = linePos(text, offset);
      return `${source}: document ${i + 1}, line ${line}, column ${col}`;
    };
    const err = d.errors[0];
    if (err) {
      const deep = /Maximum call stack/.test(err.message);
      throw new ManifestError(`${where(err.pos[0])}: ${deep ? `nested deeper than ${MAX_DEPTH} levels` : err.message.split('\n')[0]!}`);
    }
    const { problem, aliases } = checkTree(d);
    if (problem)
      throw new ManifestError(`${where(problem.offset)}: ${problem.path ? `${shortPath(problem.path)}: ` : ''}${problem.message}`);
    let value: unknown;
    try {
      value = d.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new ManifestError(
        `${source}: document ${i + 1}: ${/alias count/i.test(msg) ? `too many aliases (at most ${MAX_ALIASES} may be resolved per document)` : msg}`,
      );
    }
    if (aliases && valueTooDeep(value))
      throw new ManifestError(`${source}: document ${i + 1}: nested deeper than ${MAX_DEPTH} levels (through aliases)`);
    if (value === null || value === undefined) return; // empty document (e.g. trailing ---)
    out.push({ source, index: i + 1, doc: value });
  });
  return out;
}

export function loadManifests(paths: string[], stdin?: () => string | Buffer): SourceDoc[] {
  return readSources(paths, stdin).flatMap(({ source, text }) => parseDocuments(source, text));
}
