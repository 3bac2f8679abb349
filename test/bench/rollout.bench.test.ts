// npm run bench:rollout — a rolling update of 100 replicas, maxUnavailable 10% start-first, in
// Berth and in Docker Swarm mode (`docker service update --force --update-parallelism 10
// --update-order start-first`) on the same engine, one after the other, with the same image,
// command, stop behaviour and a 1s monitor. Measured: wall time from the update until the
// rollout reports completed, and the fewest ready replicas sampled meanwhile. Printed side by side,
// with the engine's floor (the same replacement straight on the engine API, no orchestrator) and
// where Berth's time went (rollout-profile.ts).
import { execFile } from 'node:child_process';
import type Docker from 'dockerode';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ModeFigures, modeTitle, runOrder, type Mode } from './pairs.js';
import { median } from './stats.js';
import { TestCluster, image } from '../harness/cluster.js';
import { etcdStoreOptions } from '../harness/backends.js';
import { RolloutClient } from '../../cli/src/rollout-client.js';
import { ProcessUsage, RolloutProfile, createToStart, summarize } from './rollout-profile.js';

const run = promisify(execFile);
// Controller and agents log as in production (the harness's default is debug).
process.env['BERTH_LOG_LEVEL'] ??= 'info';
const REPLICAS = 100;
/** Both sides sample their ready replicas this often (the sampling costs each side some CPU). */
const SAMPLE_MS = 250;
// Exits at once on SIGTERM (busybox httpd as PID 1 would ignore it): stops cost both the same.
const CMD = 'trap "exit 0" TERM; httpd -f -p 8080 -h /www & wait';

let cluster: TestCluster;
const docker = (...args: string[]) =>
  run('docker', ['-H', `unix://${cluster.hosts[0]!.dockerd.socket}`, ...args], { maxBuffer: 64 * 1024 * 1024 });

/** A fresh one-host cluster in `mode` (TLS, the default, or plaintext: --insecure-dev), the last one stopped. */
async function clusterIn(mode: Mode): Promise<void> {
  await cluster?.stop();
  cluster = await TestCluster.start({ hosts: [{ cpus: 64, memory: '64Gi' }], insecureDev: mode === 'plaintext' });
}

beforeAll(async () => {
  await clusterIn('tls');
});

afterAll(async () => {
  await docker('service', 'rm', 'swarmweb').catch(() => undefined);
  await docker('swarm', 'leave', '--force').catch(() => undefined);
  await cluster?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface BerthRun {
  ms: number;
  minReady: number;
  profile: string;
  /** Median of each phase of a new task (ms). */
  phases: Map<string, number>;
  /** CPU seconds of each process during the rollout. */
  cpu: Map<string, number>;
}

async function berth(): Promise<BerthRun> {
  const rc = new RolloutClient(cluster.controllers[0]!.address, cluster.transport);
  const manifest = (v: string): string => {
    const f = join(cluster.dir, `bench-${v}.yaml`);
    writeFileSync(
      f,
      `apiVersion: berth.dev/v1\nkind: Service\nmetadata: { name: web }\nspec:\n  image: ${image()}\n  replicas: ${REPLICAS}\n  env: { VERSION: ${v} }\n  command: [sh, -c, '${CMD}']\n  stop: { gracePeriod: 10s }\n  update: { order: start-first, maxSurge: 10%, maxUnavailable: 10%, monitor: 1s }\n`,
    );
    return f;
  };
  await cluster.berth(['apply', '-f', manifest('v1')]);
  await cluster.waitFor(
    async () => (await rc.get('default', 'web')).state === 'completed' && (await rc.get('default', 'web')).ready === REPLICAS,
    '100 replicas',
    300_000,
  );
  let minReady = REPLICAS;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      minReady = Math.min(minReady, (await rc.get('default', 'web')).ready);
      await sleep(SAMPLE_MS);
    }
  })();
  const profile = new RolloutProfile(etcdStoreOptions(cluster.etcd), cluster.hosts[0]!.docker);
  await profile.start();
  const usage = new ProcessUsage({
    'dockerd + containerd': cluster.hosts[0]!.dockerd.proc.pid,
    etcd: cluster.etcd.proc.pid,
    controller: cluster.controllers[0]!.proc.pid,
    agent: cluster.hosts[0]!.agent!.pid,
  });
  usage.start();
  const t0 = Date.now();
  await cluster.berth(['apply', '-f', manifest('v2')]);
  let rolledBack = '';
  await cluster.waitFor(
    async () => {
      const s = await rc.get('default', 'web');
      if (s.state.startsWith('rollback') || s.state === 'rolled_back') rolledBack = `${s.state}: ${s.message ?? ''}`;
      return (s.revision === 2 && s.state === 'completed') || rolledBack !== '';
    },
    'Berth rollout completed',
    600_000,
  );
  if (rolledBack) {
    // Keep what failed: the benchmark is no figure then, and the next run should not guess why.
    const failed = (await cluster.client().listTasks({ service: 'web', all: true })).filter(
      (t) => t.specRevision === 2 && ['failed', 'rejected', 'orphaned'].includes(t.status?.state ?? ''),
    );
    throw new Error(
      `the rollout rolled back (${rolledBack}); failed new tasks: ${failed.map((t) => `${t.id} on ${t.nodeId}: ${t.status?.state} ${t.status?.message} (exit ${t.status?.exitCode}, ${t.status?.err ?? ''})`).join('; ') || 'none listed'}`,
    );
  }
  const ms = Date.now() - t0;
  const used = usage.report();
  const cpu = usage.cpu();
  sampling = false;
  await sampler;
  rc.close();
  // Old containers still stopping belong to the profile, not to the wall time.
  await cluster.waitFor(async () => (await cluster.running(0)).length === REPLICAS, 'old containers stopped', 300_000);
  await profile.stop();
  await cluster.berth(['delete', 'service', 'web']);
  await cluster.waitFor(async () => (await cluster.containers(0)).length === 0, 'Berth containers gone', 300_000);
  const phases = new Map([...profile.phases(2)].map(([name, l]) => [name, median(l)]));
  return { ms, minReady, profile: `${profile.report(2)}\n resources used during the rollout:\n${used}`, phases, cpu };
}

async function runningOf(service: string): Promise<number> {
  const { stdout } = await docker('service', 'ps', service, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}');
  return stdout.split('\n').filter((l) => l.startsWith('Running')).length;
}

async function swarm(): Promise<{ ms: number; minReady: number; engine: string; used: string }> {
  await docker('swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', '127.0.0.1:0');
  await docker(
    'service',
    'create',
    '--detach',
    '--name',
    'swarmweb',
    '--replicas',
    String(REPLICAS),
    '--stop-grace-period',
    '10s',
    '--update-parallelism',
    '10',
    '--update-order',
    'start-first',
    '--update-delay',
    '0s',
    '--update-monitor',
    '1s',
    '--update-failure-action',
    'rollback',
    '--env',
    'VERSION=v1',
    image(),
    'sh',
    '-c',
    CMD,
  );
  await cluster.waitFor(async () => (await runningOf('swarmweb')) === REPLICAS, 'Swarm: 100 running', 600_000);
  let minReady = REPLICAS;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      minReady = Math.min(minReady, await runningOf('swarmweb').catch(() => minReady));
      await sleep(SAMPLE_MS);
    }
  })();
  const engine = await createToStart(cluster.hosts[0]!.docker, 'com.docker.swarm.service.name=swarmweb');
  // Swarm's manager and agent live inside dockerd.
  const usage = new ProcessUsage({ 'dockerd + containerd (Swarm runs inside)': cluster.hosts[0]!.dockerd.proc.pid });
  usage.start();
  const t0 = Date.now();
  await docker('service', 'update', '--detach', '--force', '--update-parallelism', '10', '--update-order', 'start-first', 'swarmweb');
  await cluster.waitFor(
    async () => {
      const { stdout } = await docker('service', 'inspect', 'swarmweb', '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}');
      return stdout.trim() === 'completed';
    },
    'Swarm update completed',
    900_000,
  );
  const ms = Date.now() - t0;
  const used = usage.report();
  sampling = false;
  await sampler;
  return { ms, minReady, engine: summarize(engine.stop()), used };
}

/**
 * The engine's own floor: the same replacement with no orchestrator at all — 10 workers, each
 * creating and starting a new container, then stopping the old one — straight on the engine API.
 * No orchestrator that replaces 100 containers on this engine can be faster.
 */
async function engineFloor(): Promise<{ ms: number }> {
  const d = cluster.hosts[0]!.docker;
  const labels = { 'berth.bench': 'floor' };
  const run1 = async (name: string): Promise<Docker.Container> => {
    const c = await d.createContainer({
      name,
      Image: image(),
      Cmd: ['sh', '-c', CMD],
      Env: [`VERSION=${name}`],
      Labels: labels,
      StopTimeout: 10,
      HostConfig: { RestartPolicy: { Name: 'no' } },
    });
    await c.start();
    return c;
  };
  const pipeline = async (workers: number, each: (i: number) => Promise<void>): Promise<void> => {
    const queue = Array.from({ length: REPLICAS }, (_, i) => i);
    await Promise.all(
      Array.from({ length: workers }, async () => {
        for (let i = queue.shift(); i !== undefined; i = queue.shift()) await each(i);
      }),
    );
  };
  const old: Docker.Container[] = [];
  await pipeline(10, async (i) => {
    old[i] = await run1(`floor-v1-${i}`);
  });
  const stops: Array<Promise<unknown>> = [];
  const t0 = Date.now();
  await pipeline(10, async (i) => {
    await run1(`floor-v2-${i}`);
    stops.push(old[i]!.stop({ t: 10 }));
  });
  await Promise.all(stops);
  const ms = Date.now() - t0;
  const all = await d.listContainers({ all: true, filters: { label: ['berth.bench=floor'] } });
  await Promise.all(all.map((c) => d.getContainer(c.Id).remove({ force: true })));
  return { ms };
}

/** Swarm's update, then its service and the swarm gone (the engine as it was). */
async function swarmRound(): Promise<Awaited<ReturnType<typeof swarm>>> {
  const s = await swarm();
  await docker('service', 'rm', 'swarmweb');
  await cluster.waitFor(
    async () =>
      (await cluster.hosts[0]!.docker.listContainers({ all: true, filters: { label: ['com.docker.swarm.service.name=swarmweb'] } }))
        .length === 0,
    'Swarm containers gone',
    300_000,
  );
  await docker('swarm', 'leave', '--force');
  return s;
}

it('rolls 100 replicas faster than Docker Swarm at equal parallelism', async () => {
  // BENCH_SWARM=0 measures Berth alone (while profiling); BENCH_ORDER=swarm-first runs Swarm
  // first (the machine's load drifts over minutes: swapping the order shows how much that weighs).
  const swarmFirst = process.env['BENCH_ORDER'] === 'swarm-first';
  const s0 = swarmFirst && process.env['BENCH_SWARM'] !== '0' ? await swarmRound() : undefined;
  // TLS and plaintext, each on a fresh cluster, in pairs alternating which goes first (pairs.ts).
  const order = runOrder();
  const figs = new ModeFigures();
  let b: BerthRun | undefined;
  for (const [i, mode] of order.entries()) {
    if (i > 0 || mode !== 'tls') await clusterIn(mode);
    figs.runStarts(mode);
    const r = await berth();
    process.stdout.write(
      `\nBerth (${mode}): ${(r.ms / 1000).toFixed(1)} s, fewest ready ${r.minReady}; where a new task's time goes:\n${r.profile}\n`,
    );
    expect(r.minReady).toBeGreaterThanOrEqual(90);
    figs.add(mode, 'rollout: apply → completed', r.ms / 1000, 's', 1);
    figs.add(mode, 'fewest ready (sampled)', r.minReady, '');
    for (const [name, v] of r.phases) figs.add(mode, `new task ${name} (median)`, v, 'ms');
    for (const [name, v] of r.cpu) figs.add(mode, `CPU during the rollout: ${name}`, v, 's', 1);
    if (mode === 'tls' || order[0] !== 'tls') b ??= r;
  }
  if (figs.paired) {
    const pairs = order.length / 2;
    process.stdout.write(`\nTLS beside plaintext, ${pairs} pair(s) in the order ${order.join(', ')}\n${figs.text()}\n`);
    figs.append(
      'TLS beside plaintext (bench:rollout)',
      `\`BENCH_PAIRS=${pairs} npm run bench:rollout\`: the rolling update of ${REPLICAS} replicas, ${modeTitle('tls')} against ${modeTitle('plaintext')}, ` +
        `each on a fresh one-host cluster, ${pairs} pair(s) in the order ${order.join(', ')}; medians over the runs.`,
    );
  }
  if (!b) throw new Error('no run');
  if (process.env['BENCH_SWARM'] === '0') return;
  const s = s0 ?? (await swarmRound());
  const f = await engineFloor();
  const rows = [
    ['', 'wall time', 'fewest ready (sampled)'],
    ['Berth (maxSurge 10%, maxUnavailable 10%, start-first)', `${(b.ms / 1000).toFixed(1)} s`, String(b.minReady)],
    ['Docker Swarm (parallelism 10, start-first)', `${(s.ms / 1000).toFixed(1)} s`, String(s.minReady)],
    ['speed-up', `${(s.ms / b.ms).toFixed(2)}x`, ''],
    ['engine floor (no orchestrator, 10 at a time)', `${(f.ms / 1000).toFixed(1)} s`, ''],
  ];
  process.stdout.write(
    `\nrolling update of ${REPLICAS} replicas on one engine (${swarmFirst ? 'Swarm first' : 'Berth first'})\n${rows.map((r) => r[0]!.padEnd(56) + r[1]!.padEnd(12) + r[2]).join('\n')}\n`,
  );
  process.stdout.write(
    'settings: Berth update { order: start-first, maxSurge: 10%, maxUnavailable: 10%, monitor: 1s, delay: 0s, failureAction: rollback };\n' +
      '          Swarm --update-parallelism 10 --update-order start-first --update-monitor 1s --update-delay 0s --update-failure-action rollback\n',
  );
  process.stdout.write(`Swarm's engine create → start: ${s.engine}\nresources used during Swarm's update:\n${s.used}\n`);
});
