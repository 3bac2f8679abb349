// npm run bench:wait — what `berth apply --wait` costs (issue 17, item 4). On a real cluster (one
// controller, one agent and dockerd): a fresh apply of REPLICAS busybox httpd replicas with
// --wait, timed from the last container's start on the engine (its State.StartedAt) to the CLI
// returning; then, with the service converged, RUNS rounds each of `berth get services` and
// `berth apply -f svc.yaml --wait` (unchanged manifest) as real CLI processes, alternating, with
// `berth --version` (a CLI process that talks to no one) as the floor of a process. Prints
// median and p99 side by side with the ratio, and appends the figures to docs/benchmarks.md.
// Not a pass/fail test.
import { appendFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { quantile } from './stats.js';
import { TestCluster, image } from '../harness/cluster.js';

process.env['BERTH_LOG_LEVEL'] ??= 'info';
const REPLICAS = Number(process.env['BENCH_REPLICAS'] ?? 100);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 20);
// Exits at once on SIGTERM (busybox httpd as PID 1 would ignore it), so the cleanup is quick.
const CMD = 'trap "exit 0" TERM; httpd -f -p 8080 -h /www & wait';
const DOCS = join(import.meta.dirname, '..', '..', 'docs', 'benchmarks.md');

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ hosts: [{ cpus: 64, memory: '64Gi' }] });
});

afterAll(async () => {
  await cluster?.stop();
});

/** Runs the CLI once; its wall time in ms (spawn to exit, as a person at a shell sees it). */
async function timed(args: string[]): Promise<number> {
  const t0 = performance.now();
  const res = await cluster.berth(args, { timeoutMs: 600_000 });
  const ms = performance.now() - t0;
  expect(res.code, `berth ${args.join(' ')}: ${res.stderr}`).toBe(0);
  return ms;
}

const ms = (x: number): string => `${Math.round(x)} ms`;

it(`apply --wait on a converged service of ${REPLICAS} replicas costs about one get services`, async () => {
  const f = join(cluster.dir, 'svc.yaml');
  writeFileSync(
    f,
    `apiVersion: berth.dev/v1\nkind: Service\nmetadata: { name: web }\nspec:\n  image: ${image()}\n  replicas: ${REPLICAS}\n  command: [sh, -c, '${CMD}']\n  stop: { gracePeriod: 10s }\n`,
  );
  const load0 = loadavg()[0]!;

  // A fresh apply: from the last container's start on the engine to --wait returning.
  const res = await cluster.berth(['apply', '-f', f, '--wait', '--timeout', '10m'], { timeoutMs: 700_000 });
  const returnedAt = Date.now();
  expect(res.code, res.stderr).toBe(0);
  const d = cluster.hosts[0]!.docker;
  const running = await cluster.running(0);
  expect(running).toHaveLength(REPLICAS);
  const started = await Promise.all(running.map(async (c) => Date.parse((await d.getContainer(c.Id).inspect()).State.StartedAt)));
  const lastStart = Math.max(...started);
  const freshMs = returnedAt - lastStart;
  const progress = res.stdout.trim().split('\n');
  process.stdout.write(`\nfresh apply --wait printed ${progress.length} lines; the last: ${progress.slice(-3).join(' | ')}\n`);

  // The converged service: N rounds, alternating, so drifting load weighs on all alike.
  const get: number[] = [];
  const wait: number[] = [];
  const version: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    get.push(await timed(['get', 'services']));
    wait.push(await timed(['apply', '-f', f, '--wait']));
    version.push(await timed(['--version']));
  }
  const load1 = loadavg()[0]!;
  const ratio = quantile(wait, 0.5) / quantile(get, 0.5);
  const rows = [
    ['', 'median', 'p99'],
    ['berth --version (no connection)', ms(quantile(version, 0.5)), ms(quantile(version, 0.99))],
    ['berth get services', ms(quantile(get, 0.5)), ms(quantile(get, 0.99))],
    ['berth apply -f svc.yaml --wait (unchanged)', ms(quantile(wait, 0.5)), ms(quantile(wait, 0.99))],
    ['ratio apply --wait ÷ get services', `${ratio.toFixed(2)}×`, `${(quantile(wait, 0.99) / quantile(get, 0.99)).toFixed(2)}×`],
  ];
  process.stdout.write(
    `\n${REPLICAS} replicas, ${RUNS} runs each; fresh apply: last container started → apply --wait returned ${ms(freshMs)}\n` +
      rows.map((r) => r[0]!.padEnd(46) + r[1]!.padEnd(10) + r[2]).join('\n') +
      '\n',
  );

  const when = new Date().toISOString().replace('T', ' ').slice(0, 16);
  const machine = `${cpus().length} cores, load ${load0.toFixed(1)} → ${load1.toFixed(1)}`;
  appendFileSync(
    DOCS,
    `| ${when} UTC | ${machine} | ${REPLICAS} | ${RUNS} | ${ms(quantile(version, 0.5))} | ${ms(quantile(get, 0.5))} / ${ms(quantile(get, 0.99))} | ` +
      `${ms(quantile(wait, 0.5))} / ${ms(quantile(wait, 0.99))} | ${ratio.toFixed(2)}× | ${ms(freshMs)} |\n`,
  );

  await cluster.berth(['delete', 'service', 'web']);
  await cluster.waitFor(async () => (await cluster.containers(0)).length === 0, 'containers gone', 300_000);
});
