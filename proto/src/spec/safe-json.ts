// A strict JSON reader for manifests arriving at the controller's API. JSON.parse accepts
// duplicate keys (the last wins, silently), any nesting depth (until the stack breaks) and
// unpaired surrogates; this one refuses them, and keys that could reach a prototype, reporting
// each problem with its path. Recursion is bounded by MAX_DEPTH; work is linear in the input.
import type { Issue } from './dsl.js';
import { FORBIDDEN_KEYS, MAX_DEPTH, MAX_DOCUMENT_BYTES, childPath, forbiddenKeyMessage } from './limits.js';

export type JsonResult = { ok: true; value: unknown } | { ok: false; issues: Issue[] };

/** Raised inside the reader for a syntax error or a hard limit: parsing stops there. */
class Stop extends Error {}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const LITERALS = [
  ['true', true],
  ['false', false],
  ['null', null],
] as const;
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a string is not clean Unicode text, or undefined. */
export function textProblem(s: string): string | undefined {
  if (UNPAIRED_SURROGATE.test(s)) return 'contains an unpaired UTF-16 surrogate (not valid Unicode)';
  if (s.includes('\uFFFD'))
    return 'contains U+FFFD, the replacement character: the text was not valid UTF-8 when it was sent, or was damaged on the way';
  return undefined;
}

export function parseJsonDocument(text: string, limits: { maxBytes?: number; maxDepth?: number } = {}): JsonResult {
  const maxBytes = limits.maxBytes ?? MAX_DOCUMENT_BYTES;
  const maxDepth = limits.maxDepth ?? MAX_DEPTH;
  // A UTF-16 string is never shorter than its UTF-8 bytes / 3: only count bytes when it might matter.
  if (text.length > maxBytes || (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes)) {
    return { ok: false, issues: [{ path: '(document)', message: `larger than the limit of ${maxBytes} bytes` }] };
  }
  const issues: Issue[] = [];
  let i = 0;

  const where = (): string => {
    let line = 1;
    let col = 1;
    for (let k = 0; k < i && k < text.length; k++) {
      if (text.charCodeAt(k) === 0x0a) {
        line++;
        col = 1;
      } else col++;
    }
    return `line ${line}, column ${col}`;
  };
  const fail = (message: string, path: string): never => {
    issues.push({ path: path || '(document)', message });
    throw new Stop();
  };
  const skipWs = (): void => {
    while (i < text.length && WS.has(text.charCodeAt(i))) i++;
  };
  const expect = (ch: string, path: string): void => {
    skipWs();
    if (text[i] !== ch) fail(`not valid JSON: expected ${JSON.stringify(ch)} at ${where()}`, path);
    i++;
  };

  const readString = (path: string): string => {
    // text[i] is the opening quote
    i++;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= text.length) fail(`not valid JSON: unterminated string at ${where()}`, path);
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail(`not valid JSON: control character in a string at ${where()}`, path);
      if (c === 0x5c) {
        out += text.slice(start, i);
        const e = text[i + 1] ?? '';
        if (e === 'u') {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail(`not valid JSON: bad \\u escape at ${where()}`, path);
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else {
          const r = ESCAPES[e];
          if (r === undefined) fail(`not valid JSON: bad escape at ${where()}`, path);
          out += r;
          i += 2;
        }
        start = i;
        continue;
      }
      i++;
    }
    out += text.slice(start, i);
    i++; // closing quote
    return out;
  };

  const readValue = (path: string, depth: number): unknown => {
    skipWs();
    const c = text[i];
    if (c === '{' || c === '[') {
      if (depth >= maxDepth) fail(`nested deeper than ${maxDepth} levels`, path);
      return c === '{' ? readObject(path, depth + 1) : readArray(path, depth + 1);
    }
    if (c === '"') {
      const s = readString(path);
      const why = textProblem(s);
      if (why) issues.push({ path: path || '(document)', message: why });
      return s;
    }
    for (const [word, value] of LITERALS) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return value;
      }
    }
    NUMBER_RE.lastIndex = i;
    const m = NUMBER_RE.exec(text);
    if (m && m[0].length > 0) {
      i += m[0].length;
      return Number(m[0]);
    }
    return fail(
      i >= text.length
        ? 'not valid JSON: unexpected end of input'
        : `not valid JSON: unexpected character ${JSON.stringify(text[i])} at ${where()}`,
      path,
    );
  };

  const readObject = (path: string, depth: number): Record<string, unknown> => {
    i++; // {
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    skipWs();
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      skipWs();
      if (text[i] !== '"') fail(`not valid JSON: expected a key in quotes at ${where()}`, path);
      const key = readString(path);
      const p = childPath(path, key);
      const why = textProblem(key);
      if (why) issues.push({ path: p, message: `key ${why}` });
      expect(':', p);
      const v = readValue(p, depth);
      if (FORBIDDEN_KEYS.has(key)) issues.push({ path: p, message: forbiddenKeyMessage(key) });
      else if (seen.has(key)) issues.push({ path: p, message: 'duplicate key (each key may appear once)' });
      else out[key] = v;
      seen.add(key);
      skipWs();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return out;
      }
      fail(`not valid JSON: expected "," or "}" at ${where()}`, path);
    }
  };

  const readArray = (path: string, depth: number): unknown[] => {
    i++; // [
    const out: unknown[] = [];
    skipWs();
    if (text[i] === ']') {
      i++;
      return out;
    }
    for (;;) {
      out.push(readValue(childPath(path, out.length), depth));
      skipWs();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === ']') {
        i++;
        return out;
      }
      fail(`not valid JSON: expected "," or "]" at ${where()}`, path);
    }
  };

  try {
    const value = readValue('', 0);
    skipWs();
    if (i < text.length) fail(`not valid JSON: unexpected text after the document at ${where()}`, '');
    return issues.length > 0 ? { ok: false, issues } : { ok: true, value };
  } catch (err) {
    if (err instanceof Stop) return { ok: false, issues };
    throw err;
  }
}
