// Label selectors for `berth get -l`, as kubectl writes them. Pure: parse once, match many.
//
//   tier=front   tier==front   tier!=front   tier   !tier   env in (prod,staging)   env notin (dev)
//
// Requirements are separated by commas and all must hold. `!=` and `notin` also match objects
// without the key (as in Kubernetes).

export type Requirement =
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'notexists' };

export class SelectorError extends Error {
  override readonly name = 'SelectorError';
}

const KEY_RE = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9.]*[A-Za-z0-9])?\/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
/** A value is anything but the selector's own punctuation and spaces (label values are free text up to 253 characters). */
const VALUE_RE = /^[^,()=!\s]*$/;
/** Upper bound so a pasted file cannot make a selector; real ones are a few terms. */
export const MAX_SELECTOR_LENGTH = 4096;

/** Splits at commas outside parentheses. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    if (depth < 0) throw new SelectorError('unbalanced ")"');
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (depth !== 0) throw new SelectorError('unbalanced "("');
  out.push(cur);
  return out;
}

function checkKey(key: string, term: string): string {
  if (!key) throw new SelectorError(`${JSON.stringify(term)}: missing label key`);
  if (!KEY_RE.test(key))
    throw new SelectorError(
      `${JSON.stringify(term)}: ${JSON.stringify(key)} is not a label key ([prefix/]name of letters, digits, "-", "_", ".")`,
    );
  return key;
}

function checkValue(value: string, term: string): string {
  if (!VALUE_RE.test(value))
    throw new SelectorError(
      `${JSON.stringify(term)}: ${JSON.stringify(value)} is not a selector value (no spaces, ",", "(", ")", "=" or "!")`,
    );
  return value;
}

function parseTerm(raw: string): Requirement {
  const term = raw.trim();
  if (!term) throw new SelectorError('empty requirement (two commas in a row, or a trailing comma)');
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(term);
  if (set) {
    const values = set[3]!.split(',').map((v) => checkValue(v.trim(), term));
    if (values.length === 0 || values.some((v) => v === ''))
      throw new SelectorError(`${JSON.stringify(term)}: a set needs one or more non-empty values`);
    return { key: checkKey(set[1]!, term), op: set[2] === 'in' ? 'in' : 'notin', values: [...new Set(values)].sort() };
  }
  const m = /^([^=!]*?)\s*(==|!=|=)\s*(.*)$/.exec(term);
  if (m) return { key: checkKey(m[1]!, term), op: m[2] === '!=' ? 'neq' : 'eq', value: checkValue(m[3]!, term) };
  if (term.startsWith('!')) return { key: checkKey(term.slice(1).trim(), term), op: 'notexists' };
  return { key: checkKey(term, term), op: 'exists' };
}

export function parseSelector(s: string): Requirement[] {
  if (s.length > MAX_SELECTOR_LENGTH) throw new SelectorError(`longer than ${MAX_SELECTOR_LENGTH} characters`);
  if (!s.trim()) throw new SelectorError('empty selector');
  return splitTerms(s).map(parseTerm);
}

export function matches(labels: Readonly<Record<string, string>>, reqs: readonly Requirement[]): boolean {
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = has ? labels[r.key] : undefined;
    switch (r.op) {
      case 'eq':
        return has && v === r.value;
      case 'neq':
        return !has || v !== r.value;
      case 'in':
        return has && r.values.includes(v!);
      case 'notin':
        return !has || !r.values.includes(v!);
      case 'exists':
        return has;
      case 'notexists':
        return !has;
    }
  });
}

/** The canonical text of a selector (for messages). */
export function formatSelector(reqs: readonly Requirement[]): string {
  return reqs
    .map((r) => {
      switch (r.op) {
        case 'eq':
          return `${r.key}=${r.value}`;
        case 'neq':
          return `${r.key}!=${r.value}`;
        case 'in':
          return `${r.key} in (${r.values.join(',')})`;
        case 'notin':
          return `${r.key} notin (${r.values.join(',')})`;
        case 'exists':
          return r.key;
        case 'notexists':
          return `!${r.key}`;
      }
    })
    .join(',');
}
