// Issue 7's metrics on real components: a real Prometheus (Debian's) runs the shipped
// deploy/prometheus/prometheus.yml (pointed at the test controller, 1s intervals) and finds the
// controller, both agents and the replicas of a service with spec.metrics through the
// controller's HTTP service discovery; PromQL through its HTTP API returns the per-replica
// series. Also: promtool on the shipped rules and on what the components serve, /healthz and
// /readyz, a crash loop counted per slot, `berth top`, every dashboard query accepted.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, spawnProc, waitUntil, type Proc } from '../../cli/src/local/process.js';
import { PID_REGISTRY, ROOT, TestCluster, image } from '../harness/cluster.js';
import { dashboardQueries, dashboards } from '../harness/dashboards.js';

let cluster: TestCluster;
let prometheus: Proc | undefined;
let promUrl = '';

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(expr: string): Promise<Sample[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: Sample[] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data.result;
}

async function waitQuery(expr: string, ok: (r: Sample[]) => boolean, what: string, ms = 60_000): Promise<Sample[]> {
  let last: Sample[] = [];
  await cluster.waitFor(async () => ok((last = await query(expr))), `${what} (${expr})`, ms);
  return last;
}

const METRICS_SERVICE = `apiVersion: berth.dev/v1
kind: Service
metadata: { name: metricsvc }
spec:
  image: ${image()}
  replicas: 2
  command: [sh, -c, "mkdir -p /tmp/m && printf 'demo_up 1\\\\n' > /tmp/m/metrics && exec httpd -f -p 9100 -h /tmp/m"]
  ports: [{ containerPort: 9100 }]
  metrics: { port: 9100, path: /metrics }
  stop: { gracePeriod: 1s }
`;

const CRASH_SERVICE = `apiVersion: berth.dev/v1
kind: Service
metadata: { name: crash }
spec:
  image: ${image()}
  replicas: 1
  command: [sh, -c, "sleep 0.5; exit 3"]
  restart: { backoff: { initial: 200ms, max: 1s } }
  stop: { gracePeriod: 1s }
`;

function file(name: string, text: string): string {
  const f = join(cluster.dir, name);
  writeFileSync(f, text);
  return f;
}

interface TlsConfig {
  ca_file: string;
  cert_file: string;
  key_file: string;
  server_name?: string;
}

/**
 * The shipped prometheus.yml, pointed at this cluster's controller, with 1s intervals, and the
 * monitor credential the harness made (cluster.pki.monitorDir) in every tls_config: discovery
 * and the scrapes of controllers and agents go over mTLS, as shipped.
 */
function prometheusConfig(): string {
  const cfg = parseYaml(readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
    global: Record<string, string>;
    rule_files: string[];
    scrape_configs: Array<{
      job_name: string;
      scheme?: string;
      tls_config?: TlsConfig;
      http_sd_configs: Array<{ url: string; refresh_interval?: string; tls_config?: TlsConfig }>;
    }>;
  };
  cfg.global = { scrape_interval: '1s', evaluation_interval: '1s' };
  cfg.rule_files = cfg.rule_files.map((f) => join(ROOT, 'deploy/prometheus', f));
  const credential = (t: TlsConfig): TlsConfig => ({
    ...t,
    ca_file: join(cluster.pki.monitorDir, 'ca.pem'),
    cert_file: join(cluster.pki.monitorDir, 'cert.pem'),
    key_file: join(cluster.pki.monitorDir, 'key.pem'),
  });
  for (const job of cfg.scrape_configs) {
    if (job.tls_config) job.tls_config = credential(job.tls_config);
    for (const sd of job.http_sd_configs) {
      const u = new URL(sd.url);
      expect(u.protocol, `${job.job_name}: discovery over https`).toBe('https:');
      sd.url = `https://${cluster.controllers[0]!.metrics}${u.pathname}`;
      sd.refresh_interval = '1s';
      sd.tls_config = credential(sd.tls_config!);
    }
  }
  return stringify(cfg, { aliasDuplicateObjects: false });
}

beforeAll(async () => {
  cluster = await TestCluster.start({ hosts: 2 });
  for (const [name, text] of [
    ['metricsvc.yaml', METRICS_SERVICE],
    ['crash.yaml', CRASH_SERVICE],
  ] as const) {
    const res = await cluster.berth(['apply', '-f', file(name, text)]);
    expect(res.stderr).toBe('');
  }
  const port = await freePort();
  const dir = join(cluster.dir, 'prometheus');
  mkdirSync(dir, { recursive: true });
  const config = file('prometheus.yml', prometheusConfig());
  prometheus = spawnProc(
    'prometheus',
    'prometheus',
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { logFile: join(cluster.dir, 'prometheus.log') },
  );
  appendFileSync(PID_REGISTRY, `${prometheus.pid}\n`);
  promUrl = `http://127.0.0.1:${port}`;
  await waitUntil(async () => (await fetch(`${promUrl}/-/ready`)).ok, 'prometheus ready', { proc: prometheus, timeoutMs: 30_000 });
});

afterAll(async () => {
  await prometheus?.stop(5_000);
  await cluster?.stop();
});

describe('Prometheus discovers and scrapes the cluster through the controller', () => {
  it('finds the controller, both agents and each replica of the service with spec.metrics', async () => {
    const controllers = await waitQuery('up{job="berth-controllers"} == 1', (r) => r.length === 1, 'controller scraped');
    expect(controllers[0]!.metric['controller']).toBe('c1');
    const agents = await waitQuery('up{job="berth-agents"} == 1', (r) => r.length === 2, 'both agents scraped');
    expect(agents.map((s) => s.metric['node']).sort()).toEqual(['h1', 'h2']);

    await cluster.waitFor(
      async () => (await cluster.client().listTasks({ service: 'metricsvc' })).filter((t) => t.status?.state === 'running').length === 2,
      'metricsvc running',
    );
    const tasks = await cluster.client().listTasks({ service: 'metricsvc' });
    const where = new Map(tasks.map((t) => [String(t.slot), t.nodeId]));
    const targets = await waitQuery('up{job="berth-tasks", service="metricsvc"} == 1', (r) => r.length === 2, 'both replicas scraped');
    for (const t of targets) {
      expect(t.metric).toMatchObject({ namespace: 'default', service: 'metricsvc' });
      expect(t.metric['node']).toBe(where.get(t.metric['slot']!));
    }
    // The application's own metric, labelled by the discovery.
    const app = await waitQuery('demo_up{service="metricsvc"}', (r) => r.length === 2, 'the app metric of both replicas');
    expect(app.map((s) => s.metric['slot']).sort()).toEqual(['1', '2']);
  });

  it('returns the per-replica memory of the service (agent metrics from engine stats)', async () => {
    const mem = await waitQuery(
      'berth_task_memory_working_set_bytes{namespace="default", service="metricsvc"}',
      (r) => r.length === 2,
      'memory of both replicas',
    );
    const tasks = await cluster.client().listTasks({ service: 'metricsvc' });
    for (const s of mem) {
      expect(Number(s.value[1])).toBeGreaterThan(100 * 1024);
      expect(Number(s.value[1])).toBeLessThan(64 * 1024 * 1024);
      expect(s.metric['node']).toBe(tasks.find((t) => String(t.slot) === s.metric['slot'])!.nodeId);
    }
    const cpu = await waitQuery('berth_task_cpu_seconds_total{service="metricsvc"}', (r) => r.length === 2, 'cpu counters');
    expect(cpu.every((s) => Number(s.value[1]) > 0)).toBe(true);
    await waitQuery('berth_service_ready_replicas{service="metricsvc"} == 2', (r) => r.length === 1, 'leader reports 2 ready');
    expect(await query('berth_service_desired_replicas{service="metricsvc"}')).toMatchObject([{ value: [expect.any(Number), '2'] }]);
  });

  it('counts the restarts of a crash-looping replica per slot', async () => {
    const r = await waitQuery(
      'sum by (namespace, service, slot) (berth_task_restarts_total{service="crash"})',
      (s) => s.length === 1 && Number(s[0]!.value[1]) >= 3,
      'crash/1 restarted 3 times',
      90_000,
    );
    expect(r[0]!.metric).toEqual({ namespace: 'default', service: 'crash', slot: '1' });
    // The count only grows, and matches what the tasks report (in-place restarts + replacements).
    const first = Number(r[0]!.value[1]);
    await waitQuery('sum(berth_task_restarts_total{service="crash"})', (s) => Number(s[0]?.value[1] ?? 0) > first, 'more restarts', 60_000);
  });

  it('loads the shipped alert rules', async () => {
    const res = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: Array<{ name: string; health: string; type: string }> }> };
    };
    const rules = res.data.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.name).sort()).toEqual([
      'BerthAgentUnreachable',
      'BerthControllerWithoutLeader',
      'BerthNodeDown',
      'BerthRolloutFailed',
      'BerthServiceBelowDesiredReplicas',
      'BerthTaskCrashLooping',
    ]);
    await cluster.waitFor(
      async () => {
        const again = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as typeof res;
        return again.data.groups.flatMap((g) => g.rules).every((r) => r.health === 'ok');
      },
      'every rule evaluated without error',
      20_000,
    );
  });

  it('accepts every dashboard query', async () => {
    const vars: Record<string, string> = { namespace: 'default', service: 'metricsvc', node: 'h1', __rate_interval: '1m' };
    for (const { file, board } of dashboards()) {
      for (const q of dashboardQueries(board)) {
        const expr = q.replace(/\$(\w+)/g, (_m, v: string) => vars[v] ?? `$${v}`);
        await expect(query(expr), `${file}: ${expr}`).resolves.toBeDefined();
      }
    }
  });
});

describe('endpoints and tools', () => {
  it('/healthz and /readyz answer on the controller and on both agents', async () => {
    const nodes = await cluster.client().listNodes();
    const endpoints = [cluster.controllers[0]!.metrics, ...nodes.map((n) => n.description!.metricsAddress)];
    expect(endpoints).toHaveLength(3);
    for (const e of endpoints) {
      for (const path of ['/healthz', '/readyz']) expect((await cluster.httpGet(e, path)).status, `${e}${path}`).toBe(200);
    }
  });

  it('promtool: shipped config and rules are valid, rule unit tests pass, served metrics lint clean', () => {
    const promtool = (args: string[], input?: string): string =>
      execFileSync('promtool', args, { cwd: join(ROOT, 'deploy/prometheus'), encoding: 'utf8', input });
    expect(promtool(['check', 'rules', 'rules.yml'])).toContain('SUCCESS: 6 rules found');
    // The shipped config as it is, in a copy of its folder where its relative credential paths
    // (berth up's .berth/tls/prometheus/) name the harness's monitor credential.
    const tree = join(cluster.dir, 'shipped');
    mkdirSync(join(tree, 'deploy/prometheus'), { recursive: true });
    mkdirSync(join(tree, '.berth/tls'), { recursive: true });
    for (const f of ['prometheus.yml', 'rules.yml'])
      writeFileSync(join(tree, 'deploy/prometheus', f), readFileSync(join(ROOT, 'deploy/prometheus', f)));
    symlinkSync(cluster.pki.monitorDir, join(tree, '.berth/tls/prometheus'));
    expect(
      execFileSync('promtool', ['check', 'config', 'prometheus.yml'], { cwd: join(tree, 'deploy/prometheus'), encoding: 'utf8' }),
    ).toContain('is valid prometheus config file syntax');
    expect(promtool(['test', 'rules', 'rules.test.yml'])).toContain('SUCCESS');
  });

  it('promtool check metrics finds nothing to complain about in what the components serve', async () => {
    const nodes = await cluster.client().listNodes();
    const served: Array<[string, string]> = [
      [cluster.controllers[0]!.metrics, 'berth_service_ready_replicas{'],
      ...nodes.map((n): [string, string] => [n.description!.metricsAddress, 'berth_task_memory_working_set_bytes{']),
    ];
    for (const [e, expected] of served) {
      // prom-client's own nodejs_active_{handles,requests,resources}_total are gauges named
      // like counters upstream; everything else must pass.
      const text = (await cluster.scrape(e))
        .split('\n')
        .filter((l) => !/^(# (HELP|TYPE) )?berth_(controller|agent)_nodejs_active_(handles|requests|resources)_total\b/.test(l))
        .join('\n');
      expect(text).toContain(expected);
      // Exits non-zero and names the metric when a name, unit or help text breaks a convention.
      const out = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(out.trim(), e).toBe('');
    }
  });

  it('berth top shows CPU and memory per service and per node', async () => {
    await cluster.waitFor(
      async () => / metricsvc +2 /.test((await cluster.berth(['top'])).stdout),
      'top lists metricsvc with 2 replicas',
      30_000,
    );
    const out = (await cluster.berth(['top'])).stdout;
    const svc = out.split('\n').find((l) => / metricsvc /.test(l))!;
    const [, , replicas, cpu, mem] = svc.trim().split(/ +/);
    expect(replicas).toBe('2');
    expect(Number(cpu)).toBeGreaterThanOrEqual(0);
    expect(mem).toMatch(/^\d+(\.\d)?(Ki|Mi)$/);
    for (const n of ['h1', 'h2']) expect(out).toMatch(new RegExp(`^${n} +ready +\\d+ +[\\d.]+ +\\d+% +\\S+ +\\d+%`, 'm'));
    const json = JSON.parse((await cluster.berth(['top', '-o', 'json'])).stdout) as {
      tasks: Array<{ service: string; memoryBytes: number }>;
    };
    expect(json.tasks.filter((t) => t.service === 'metricsvc').every((t) => t.memoryBytes > 0)).toBe(true);
  });

  it('spec.metrics must name a published tcp port (the field is named, nothing is stored)', async () => {
    const bad = METRICS_SERVICE.replace('name: metricsvc', 'name: badmetrics').replace(
      'ports: [{ containerPort: 9100 }]',
      'ports: [{ containerPort: 8080 }]',
    );
    const res = await cluster.berth(['apply', '-f', file('bad.yaml', bad)]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('spec.metrics.port: container port 9100 is not published');
    expect((await cluster.client().listServices()).some((s) => s.meta?.name === 'badmetrics')).toBe(false);
  });
});
