// npm run bench:rollout — a rolling update of 100 replicas, maxUnavailable 10% start-first, in
// Berth and in Docker Swarm mode (`docker service update --force --update-parallelism 10
// --update-order start-first`) on the same engine, one after the other, with the same image,
// command, stop behaviour and a 1s monitor. Measured: wall time from the update until the
// rollout reports completed, and the fewest ready replicas sampled meanwhile. Printed side by side.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestCluster, image } from '../harness/cluster.js';
import { RolloutClient } from '../../cli/src/rollout-client.js';

const run = promisify(execFile);
const REPLICAS = 100;
// Exits at once on SIGTERM (busybox httpd as PID 1 would ignore it): stops cost both the same.
const CMD = 'trap "exit 0" TERM; httpd -f -p 8080 -h /www & wait';

let cluster: TestCluster;
const docker = (...args: string[]) => run('docker', ['-H', `unix://${cluster.hosts[0]!.dockerd.socket}`, ...args], { maxBuffer: 64 * 1024 * 1024 });

beforeAll(async () => {
  cluster = await TestCluster.start({ hosts: [{ cpus: 64, memory: '64Gi' }] });
});

afterAll(async () => {
  await docker('service', 'rm', 'swarmweb').catch(() => undefined);
  await docker('swarm', 'leave', '--force').catch(() => undefined);
  await cluster?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function berth(): Promise<{ ms: number; minReady: number }> {
  const rc = new RolloutClient(cluster.controllers[0]!.address);
  const manifest = (v: string): string => {
    const f = join(cluster.dir, `bench-${v}.yaml`);
    writeFileSync(f, `apiVersion: berth.dev/v1\nkind: Service\nmetadata: { name: web }\nspec:\n  image: ${image()}\n  replicas: ${REPLICAS}\n  env: { VERSION: ${v} }\n  command: [sh, -c, '${CMD}']\n  stop: { gracePeriod: 10s }\n  update: { order: start-first, maxSurge: 10%, maxUnavailable: 10%, monitor: 1s }\n`);
    return f;
  };
  await cluster.berth(['apply', '-f', manifest('v1')]);
  await cluster.waitFor(async () => (await rc.get('default', 'web')).state === 'completed' && (await rc.get('default', 'web')).ready === REPLICAS, '100 replicas', 300_000);
  let minReady = REPLICAS;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      minReady = Math.min(minReady, (await rc.get('default', 'web')).ready);
      await sleep(100);
    }
  })();
  const t0 = Date.now();
  await cluster.berth(['apply', '-f', manifest('v2')]);
  await cluster.waitFor(async () => {
    const s = await rc.get('default', 'web');
    return s.revision === 2 && s.state === 'completed';
  }, 'Berth rollout completed', 600_000);
  const ms = Date.now() - t0;
  sampling = false;
  await sampler;
  rc.close();
  await cluster.berth(['delete', 'service', 'web']);
  await cluster.waitFor(async () => (await cluster.containers(0)).length === 0, 'Berth containers gone', 300_000);
  return { ms, minReady };
}

async function runningOf(service: string): Promise<number> {
  const { stdout } = await docker('service', 'ps', service, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}');
  return stdout.split('\n').filter((l) => l.startsWith('Running')).length;
}

async function swarm(): Promise<{ ms: number; minReady: number }> {
  await docker('swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', '127.0.0.1:0');
  await docker('service', 'create', '--detach', '--name', 'swarmweb', '--replicas', String(REPLICAS), '--stop-grace-period', '10s',
    '--update-parallelism', '10', '--update-order', 'start-first', '--update-delay', '0s', '--update-monitor', '1s', '--update-failure-action', 'rollback',
    '--env', 'VERSION=v1', image(), 'sh', '-c', CMD);
  await cluster.waitFor(async () => (await runningOf('swarmweb')) === REPLICAS, 'Swarm: 100 running', 600_000);
  let minReady = REPLICAS;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      minReady = Math.min(minReady, await runningOf('swarmweb').catch(() => minReady));
      await sleep(250);
    }
  })();
  const t0 = Date.now();
  await docker('service', 'update', '--detach', '--force', '--update-parallelism', '10', '--update-order', 'start-first', 'swarmweb');
  await cluster.waitFor(async () => {
    const { stdout } = await docker('service', 'inspect', 'swarmweb', '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}');
    return stdout.trim() === 'completed';
  }, 'Swarm update completed', 900_000);
  const ms = Date.now() - t0;
  sampling = false;
  await sampler;
  return { ms, minReady };
}

it('rolls 100 replicas faster than Docker Swarm at equal parallelism', async () => {
  const b = await berth();
  const s = await swarm();
  const rows = [
    ['', 'wall time', 'fewest ready (sampled)'],
    ['Berth (maxSurge 10%, maxUnavailable 10%, start-first)', `${(b.ms / 1000).toFixed(1)} s`, String(b.minReady)],
    ['Docker Swarm (parallelism 10, start-first)', `${(s.ms / 1000).toFixed(1)} s`, String(s.minReady)],
    ['speed-up', `${(s.ms / b.ms).toFixed(2)}x`, ''],
  ];
  process.stdout.write(`\nrolling update of ${REPLICAS} replicas on one engine\n${rows.map((r) => r[0]!.padEnd(56) + r[1]!.padEnd(12) + r[2]).join('\n')}\n`);
  expect(b.minReady).toBeGreaterThanOrEqual(90);
});
