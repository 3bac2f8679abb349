// The metrics as shipped: naming conventions, docs/metrics.md against the registries, and the
// Grafana dashboards and alert rules naming only metrics that exist.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { Registry } from 'prom-client';
import { ControllerMetrics } from '../../controller/src/metrics/metrics.js';
import { AgentMetrics } from '../../agent/src/metrics/metrics.js';
import { dashboardQueries, dashboards, metricNames } from '../harness/dashboards.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DEFAULT_METRICS = /^berth_(controller|agent)_(process|nodejs)_/;

interface MetricInfo {
  name: string;
  type: string;
  help: string;
  labels: string[];
}

function metricsOf(registry: Registry): MetricInfo[] {
  return registry.getMetricsAsArray().map((m) => {
    const o = m as unknown as { name: string; type: string; help: string; labelNames?: string[] };
    return { name: o.name, type: String(o.type), help: o.help, labels: [...(o.labelNames ?? [])] };
  });
}

const registries = {
  controller: new ControllerMetrics({ processMetrics: true }).registry,
  agent: new AgentMetrics({ processMetrics: true }).registry,
};
const all = [...metricsOf(registries.controller), ...metricsOf(registries.agent)];

/** Every series name a query may use: metric names, histogram series and Prometheus' own `up`. */
function knownSeries(): Set<string> {
  const out = new Set<string>(['up']);
  for (const m of all) {
    out.add(m.name);
    if (m.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(m.name + s);
  }
  return out;
}

describe('metric names and help', () => {
  it('follow the conventions: berth_ prefix, help text, _total counters, base units', () => {
    for (const m of all) {
      expect(m.name, m.name).toMatch(/^berth_[a-z0-9_]+$/);
      expect(m.help.length, `${m.name} has help`).toBeGreaterThan(10);
      if (m.type === 'counter') expect(m.name, `${m.name}: counters end in _total`).toMatch(/_total$/);
      // (prom-client's own Node.js gauges such as nodejs_active_handles_total are as they are)
      else if (!DEFAULT_METRICS.test(m.name)) expect(m.name, `${m.name}: only counters end in _total`).not.toMatch(/_total$/);
      if (m.type === 'histogram' && !DEFAULT_METRICS.test(m.name)) expect(m.name).toMatch(/_seconds$/);
      expect(m.name, `${m.name}: base units`).not.toMatch(/_(milliseconds|ms|kilobytes|megabytes|percent)(_|$)/);
    }
  });

  it('per-task agent series carry no unbounded label (no task or container id)', () => {
    for (const m of metricsOf(registries.agent)) {
      expect(
        m.labels.filter((l) => /task|container|id/.test(l)),
        m.name,
      ).toEqual([]);
    }
  });
});

describe('docs/metrics.md', () => {
  const doc = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
  const rows = [...doc.matchAll(/^\| `(berth_[a-z0-9_]+)` \| (\w+) \|\s*([^|]*?)\s*\|/gm)].map((m) => ({
    name: m[1]!,
    type: m[2]!,
    labels: m[3]!
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  }));

  it('lists every registered metric with its type and labels, and nothing else', () => {
    const own = all.filter((m) => !DEFAULT_METRICS.test(m.name));
    expect(rows.map((r) => r.name).sort()).toEqual(own.map((m) => m.name).sort());
    for (const r of rows) {
      const m = own.find((x) => x.name === r.name)!;
      expect({ name: r.name, type: r.type, labels: r.labels }).toEqual({ name: m.name, type: m.type, labels: m.labels });
    }
  });

  it('names the process metric families that exist', () => {
    for (const prefix of ['berth_controller_process_', 'berth_controller_nodejs_', 'berth_agent_process_', 'berth_agent_nodejs_']) {
      expect(doc).toContain(`\`${prefix}*\``);
      expect(all.some((m) => m.name.startsWith(prefix))).toBe(true);
    }
  });
});

describe('Grafana dashboards (deploy/grafana)', () => {
  const boards = dashboards();

  it('are the four promised, valid JSON with unique uids', () => {
    expect(boards.map((b) => b.file)).toEqual(['cluster-overview.json', 'control-plane.json', 'node.json', 'service.json']);
    expect(new Set(boards.map((b) => b.board.uid)).size).toBe(4);
  });

  it('every panel has a title and queries; every query names only metrics that exist', () => {
    const known = knownSeries();
    for (const { file, board } of boards) {
      for (const p of board.panels.filter((x) => x.type !== 'row')) {
        expect(p.title, file).toBeTruthy();
        expect(p.targets?.length, `${file}: ${p.title}`).toBeGreaterThan(0);
      }
      const queries = dashboardQueries(board);
      expect(queries.length).toBeGreaterThan(5);
      for (const q of queries) {
        const names = metricNames(q);
        expect(names.length, `${file}: ${q}`).toBeGreaterThan(0);
        for (const n of names) expect(known.has(n), `${file}: ${n} in ${q}`).toBe(true);
      }
    }
  });

  it('the metric name extraction sees through functions, matchers and grouping', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le, op) (rate(berth_x_bucket{node="$node"}[$__rate_interval])))')).toEqual([
      'berth_x_bucket',
    ]);
    expect(metricNames('max(a) - on (ns) group_left b > 0 or vector(0)')).toEqual(['a', 'b']);
  });
});

describe('alert rules (deploy/prometheus/rules.yml)', () => {
  it('name only metrics that exist and cover the promised alerts', () => {
    const doc = parseYaml(readFileSync(join(ROOT, 'deploy/prometheus/rules.yml'), 'utf8')) as {
      groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
    };
    const rules = doc.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'BerthNodeDown',
        'BerthTaskCrashLooping',
        'BerthRolloutFailed',
        'BerthServiceBelowDesiredReplicas',
        'BerthControllerWithoutLeader',
      ]),
    );
    const known = knownSeries();
    for (const r of rules) for (const n of metricNames(r.expr)) expect(known.has(n), `${r.alert}: ${n}`).toBe(true);
  });
});
