// Field-level differences between two values in the form a person writes (sizes and durations
// with units), for `berth diff`. Pure: no I/O, no terminal; rendering takes a painter.
//
// Objects are compared key by key (keys of the new value in order, then removed ones), lists
// index by index, so a change reads as `spec.ports[1].hostPort: 8080 → 8081`.

export type Change =
  | { op: 'added'; path: string; to: unknown }
  | { op: 'removed'; path: string; from: unknown }
  | { op: 'changed'; path: string; from: unknown; to: unknown };

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function join(path: string, key: string): string {
  const plain = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key);
  if (!path) return plain ? key : JSON.stringify(key);
  return plain ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** Every difference from `from` to `to`, under `path`. undefined means absent. */
export function diffValues(from: unknown, to: unknown, path = ''): Change[] {
  if (from === undefined && to === undefined) return [];
  if (from === undefined) return [{ op: 'added', path, to }];
  if (to === undefined) return [{ op: 'removed', path, from }];
  if (isObject(from) && isObject(to)) {
    const out: Change[] = [];
    for (const k of Object.keys(to)) out.push(...diffValues(from[k], to[k], join(path, k)));
    for (const k of Object.keys(from))
      if (!Object.prototype.hasOwnProperty.call(to, k)) out.push(...diffValues(from[k], undefined, join(path, k)));
    return out;
  }
  if (Array.isArray(from) && Array.isArray(to)) {
    const out: Change[] = [];
    for (let i = 0; i < Math.max(from.length, to.length); i++) out.push(...diffValues(from[i], to[i], `${path}[${i}]`));
    return out;
  }
  return deepEqual(from, to) ? [] : [{ op: 'changed', path, from, to }];
}

/** Where a bare word would read as YAML syntax or another type (plain scalars in flow context). */
const NEEDS_QUOTES = /^$|^\s|\s$|: |:$| #|[{}[\],"']|^[-?:#&*!|>%@`]|^(?:true|false|null|yes|no|on|off|~)$/i;

/** A value on one line, YAML-like: bare words, quoted when ambiguous, {k: v} and [a, b]. */
export function formatValue(v: unknown): string {
  if (v === undefined) return '(none)';
  if (v === null) return 'null';
  if (typeof v === 'string') return NEEDS_QUOTES.test(v) || !Number.isNaN(Number(v)) || /[\n\t]/.test(v) ? JSON.stringify(v) : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`;
  if (isObject(v))
    return `{${Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${join('', k)}: ${formatValue(x)}`)
      .join(', ')}}`;
  return JSON.stringify(v);
}

export type Painter = (text: string, kind: 'added' | 'removed' | 'changed') => string;
export const noPaint: Painter = (t) => t;

/** One line per change: "+ path: value", "- path: value", "~ path: old → new". */
export function renderChanges(changes: readonly Change[], paint: Painter = noPaint, indent = '  '): string[] {
  return changes.map((c) => {
    switch (c.op) {
      case 'added':
        return indent + paint(`+ ${c.path}: ${formatValue(c.to)}`, 'added');
      case 'removed':
        return indent + paint(`- ${c.path}: ${formatValue(c.from)}`, 'removed');
      case 'changed':
        return indent + paint(`~ ${c.path}: ${formatValue(c.from)} → ${formatValue(c.to)}`, 'changed');
    }
  });
}
