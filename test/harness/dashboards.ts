// PromQL and dashboard helpers shared by the metrics catalogue unit test and the Prometheus
// integration test: which metric names a query uses, and every query of the shipped dashboards.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/**
 * Metric names in a PromQL expression (as written in this repository's dashboards and rules):
 * label matchers, ranges, strings and grouping clauses removed, then every identifier that is not
 * a function, an aggregation or a keyword.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const after = stripped.slice(m.index + word.length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(word.toLowerCase())) continue;
    names.push(word);
  }
  return names;
}

export interface Panel {
  type: string;
  title: string;
  targets?: Array<{ expr: string }>;
  panels?: Panel[];
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: { query: string } | string }> };
}

export function dashboards(): Array<{ file: string; board: Dashboard }> {
  const dir = join(ROOT, 'deploy/grafana');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, board: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Dashboard }));
}

/** Every PromQL expression of a dashboard: panel targets and template variable queries. */
export function dashboardQueries(board: Dashboard): string[] {
  const out: string[] = [];
  const visit = (ps: Panel[]): void => {
    for (const p of ps) {
      for (const t of p.targets ?? []) out.push(t.expr);
      if (p.panels) visit(p.panels);
    }
  };
  visit(board.panels);
  for (const v of board.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    const m = /^label_values\((.*),\s*\w+\)$/.exec(q);
    if (!m) throw new Error(`${board.uid} variable ${v.name}: expected label_values(series, label), got ${q}`);
    out.push(m[1]!);
  }
  return out;
}
