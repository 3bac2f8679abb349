// Issue 4 on real engines: three dockerd hosts with different labels and advertised memory.
// A global service across a node joining and leaving; constraints and spreadBy; binpack; a
// service that does not fit (pending, with the reason in get tasks, get services and plan);
// limits checked with docker inspect; a host port held outside Berth; cordon and drain.
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_SERVICE } from '../../proto/src/labels.js';
import { TestCluster, image } from '../harness/cluster.js';

let cluster: TestCluster;
const MiB = 2 ** 20;

beforeAll(async () => {
  cluster = await TestCluster.start({
    hosts: [
      { name: 'h1', labels: { zone: 'a' }, memory: '1Gi' },
      { name: 'h2', labels: { zone: 'a' }, memory: '512Mi' },
      { name: 'h3', labels: { zone: 'b' }, memory: '2Gi' },
    ],
    agents: false,
  });
  // h1 and h2 from the start; h3 joins in the global-service test (or when a test needs it).
  await cluster.startAgent(0);
  await cluster.startAgent(1);
  await nodeReady('h1');
  await nodeReady('h2');
});

/** Every test after the first works on all three nodes. */
async function allNodes(): Promise<void> {
  for (const h of cluster.hosts) if (!h.agent) await cluster.startAgent(h.index);
  for (const h of cluster.hosts) await nodeReady(h.nodeId);
}

afterAll(async () => {
  await cluster?.stop();
});

function manifest(name: string, spec: string): string {
  const f = join(cluster.dir, `${name}.yaml`);
  writeFileSync(
    f,
    `apiVersion: berth.dev/v1
kind: Service
metadata:
  name: ${name}
spec:
  image: ${image()}
  command: [httpd, -f, -p, "8080", -h, /www]
  stop: { gracePeriod: 1s }
${spec
  .split('\n')
  .map((l) => (l ? `  ${l}` : l))
  .join('\n')}`,
  );
  return f;
}

async function apply(name: string, spec: string): Promise<void> {
  const res = await cluster.berth(['apply', '-f', manifest(name, spec)]);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
}

async function remove(name: string): Promise<void> {
  expect((await cluster.berth(['delete', 'service', name])).code).toBe(0);
  await cluster.waitFor(async () => {
    const all = await Promise.all(cluster.hosts.map((_h, i) => cluster.containers(i)));
    return all.every((cs) => cs.every((c) => c.Labels[LABEL_SERVICE] !== name));
  }, `no container of ${name} left`);
}

/** Running containers of a service per host (h1, h2, h3). */
async function running(name: string): Promise<number[]> {
  return Promise.all(cluster.hosts.map(async (_h, i) => (await cluster.running(i)).filter((c) => c.Labels[LABEL_SERVICE] === name).length));
}

async function waitRunning(name: string, expected: (counts: number[]) => boolean, what: string): Promise<number[]> {
  let last: number[] = [];
  await cluster.waitFor(async () => expected((last = await running(name))), `${name}: ${what} (last ${JSON.stringify(last)})`);
  return last;
}

async function nodeReady(id: string, ready = true): Promise<void> {
  await cluster.waitFor(
    async () => ((await cluster.client().listNodes()).find((n) => n.id === id)?.state === 'ready') === ready,
    `${id} ${ready ? 'ready' : 'not ready'}`,
    30_000,
  );
}

describe('scheduling on three Docker hosts', () => {
  it('a global service runs on every node, follows a node joining, leaving and changing labels', async () => {
    await apply('agent', 'mode: global\nplacement:\n  constraints: ["node.labels.role != edge"]\n');
    await waitRunning('agent', (c) => c[0] === 1 && c[1] === 1 && c[2] === 0, 'one on h1 and h2');

    // h3 joins: it gets its task.
    await cluster.startAgent(2);
    await nodeReady('h3');
    await waitRunning('agent', (c) => c.every((n) => n === 1), 'one per node after h3 joined');
    await cluster.waitFor(
      async () => (await cluster.client().listTasks({ service: 'agent' })).filter((t) => t.status?.state === 'running').length === 3,
      'three global tasks running',
    );
    expect((await cluster.berth(['get', 'tasks', 'agent'])).stdout).toMatch(/agent\.h3 +default +h3 +running +running/);
    const svc = await cluster.client().getService('default', 'agent');
    expect(svc.status).toMatchObject({ desired: 3, running: 3 });

    // h2's labels change so it no longer qualifies: its task goes; back when the label goes.
    expect((await cluster.berth(['nodes', 'label', 'h2', 'role=edge'])).stdout).toContain('node/h2 labeled (zone=a,role=edge)');
    await waitRunning('agent', (c) => c[0] === 1 && c[1] === 0 && c[2] === 1, 'none on h2 while it is an edge node');
    expect((await cluster.berth(['nodes', 'label', 'h2', 'role-'])).code).toBe(0);
    await waitRunning('agent', (c) => c.every((n) => n === 1), 'back on h2');

    // h3 leaves (its agent dies): once down, its task is orphaned and the service wants two.
    await cluster.killAgent(2);
    await cluster.waitFor(async () => (await cluster.client().listNodes()).find((n) => n.id === 'h3')?.state === 'down', 'h3 down', 30_000);
    await cluster.waitFor(async () => {
      const tasks = await cluster.client().listTasks({ service: 'agent', all: true });
      return (
        tasks.some((t) => t.nodeId === 'h3' && t.status?.state === 'orphaned') &&
        tasks.filter((t) => t.desiredState === 'running').length === 2
      );
    }, 'h3 task orphaned, two live tasks');
    // ... and when it comes back it gets a task again (the old container is replaced).
    await cluster.startAgent(2);
    await nodeReady('h3');
    await waitRunning('agent', (c) => c.every((n) => n === 1), 'one per node after h3 returned');
    await remove('agent');
  });

  it('nodes ls shows the description: labels from --label, advertised memory, engine, os/arch', async () => {
    await allNodes();
    const res = await cluster.berth(['nodes', 'ls', '-o', 'json']);
    expect(res.code).toBe(0);
    const nodes = JSON.parse(res.stdout) as Array<{
      id: string;
      description: {
        capacity: { memoryBytes: number; cpuMilli: number };
        labels: Record<string, string>;
        os: string;
        arch: string;
        engineVersion: string;
        hostname: string;
      };
    }>;
    const byId = new Map(nodes.map((n) => [n.id, n]));
    expect(byId.get('h1')!.description.capacity.memoryBytes).toBe(1024 * MiB);
    expect(byId.get('h2')!.description.capacity.memoryBytes).toBe(512 * MiB);
    expect(byId.get('h3')!.description.labels).toEqual({ zone: 'b' });
    expect(byId.get('h1')!.description).toMatchObject({ os: 'linux', hostname: 'h1' });
    expect(byId.get('h1')!.description.engineVersion).toMatch(/^\d+\.\d+/);
    expect(byId.get('h1')!.description.capacity.cpuMilli).toBeGreaterThan(0);
    const table = (await cluster.berth(['nodes', 'ls'])).stdout;
    expect(table).toMatch(/^ID +HOSTNAME +STATE +AVAILABILITY/);
    expect(table).toMatch(/h2 +h2 +ready +active +0\/\d+ +0B\/512Mi/);
  });

  it('constraints and spreadBy: even over zones, only where the constraints hold', async () => {
    await allNodes();
    await apply(
      'spread',
      'replicas: 4\nplacement:\n  spreadBy: node.labels.zone\n  constraints: ["node.arch == amd64", "node.hostname != nowhere"]\n',
    );
    // zone a (h1, h2) gets two, zone b (h3 alone) gets two.
    await waitRunning('spread', (c) => c[0] === 1 && c[1] === 1 && c[2] === 2, 'h1:1 h2:1 h3:2');
    await apply('zonea', 'replicas: 3\nplacement:\n  constraints: ["node.labels.zone == a"]\n');
    await waitRunning('zonea', (c) => c[2] === 0 && c[0]! + c[1]! === 3 && c[0]! >= 1 && c[1]! >= 1, 'three in zone a only');
    await remove('spread');
    await remove('zonea');
  });

  it('binpack fills the fullest node that still fits; limits reach the engine (docker inspect)', async () => {
    await allNodes();
    await apply(
      'packed',
      'replicas: 3\nresources: { memory: 128Mi, limits: { memory: 160Mi, cpu: 0.5 } }\nplacement: { strategy: binpack }\n',
    );
    // h2 (512Mi) is the most allocated after placing 128Mi: all three go there.
    await waitRunning('packed', (c) => c[1] === 3, 'all three on h2');
    const [c] = (await cluster.running(1)).filter((x) => x.Labels[LABEL_SERVICE] === 'packed');
    const info = await cluster.hosts[1]!.docker.getContainer(c!.Id).inspect();
    expect(info.HostConfig.Memory).toBe(160 * MiB);
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info.HostConfig.MemoryReservation).toBe(128 * MiB);
    // A fourth replica still fits on h2 (4 × 128Mi = 512Mi); a fifth goes to the next fullest.
    await apply(
      'packed',
      'replicas: 5\nresources: { memory: 128Mi, limits: { memory: 160Mi, cpu: 0.5 } }\nplacement: { strategy: binpack }\n',
    );
    await waitRunning('packed', (c) => c[1] === 4 && c[0] === 1, 'h2 full, then h1');
    await remove('packed');
  });

  it('a service that does not fit stays pending, with the reason in get tasks, get services and plan', async () => {
    await allNodes();
    await allNodes();
    const spec = 'replicas: 1\nresources: { memory: 3Gi }\n';
    // plan first: nothing written, the reason per node.
    const plan = await cluster.berth(['plan', '-f', manifest('huge', spec)]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('default/huge: 1 cannot be placed: 3 nodes: memory short by 1Gi');
    expect(plan.stdout).toMatch(/h2 +default\/huge +memory short by 2\.5Gi/);
    expect(plan.stdout).toMatch(/h3 +ready +active +[\d.]+ -> [\d.]+ +2Gi -> 2Gi/);
    const json = JSON.parse((await cluster.berth(['plan', '-f', manifest('huge', spec), '-o', 'json'])).stdout) as {
      services: Array<{ unplaced: number; result: string }>;
    };
    expect(json.services[0]).toMatchObject({ unplaced: 1, result: 'created' });
    // A Compose file plans as the services apply would make of it; a Secret places nothing.
    const compose = join(cluster.dir, 'docker-compose.yml');
    writeFileSync(
      compose,
      'name: proj\nservices:\n  big:\n    image: berth-local/busybox:1\n    deploy: { replicas: 2, resources: { reservations: { memory: 3G } } }\n',
    );
    const secret = join(cluster.dir, 'secret.yaml');
    writeFileSync(secret, 'apiVersion: berth.dev/v1\nkind: Secret\nmetadata: { name: creds }\ndata: { password: hunter2 }\n');
    const composed = await cluster.berth(['plan', '-f', compose, '-f', secret]);
    expect(composed.code).toBe(0);
    expect(composed.stdout).toMatch(/default\/big +created +2 +0 +0 +0 +2/);
    expect((await cluster.berth(['plan', '-f', secret])).stderr).toContain('no Service documents found in the given manifests');
    expect(await cluster.client().listServices()).toHaveLength(0);

    await apply('huge', spec);
    await cluster.waitFor(
      async () =>
        (await cluster.client().listTasks({ service: 'huge' })).some(
          (t) => t.status?.message === 'no suitable node: 3 nodes: memory short by 1Gi',
        ),
      'the reason on the task',
    );
    const tasks = (await cluster.berth(['get', 'tasks', 'huge'])).stdout;
    expect(tasks).toMatch(/huge\.1 +default +- +running +pending .*no suitable node: 3 nodes: memory short by 1Gi/);
    expect((await cluster.berth(['get', 'services', 'huge', '-o', 'wide'])).stdout).toContain(
      'no suitable node: 3 nodes: memory short by 1Gi',
    );
    // Capacity appears (h3's operator shrinks what it asks for): re-applied smaller, it runs.
    await apply('huge', 'replicas: 1\nresources: { memory: 1536Mi }\n');
    await waitRunning('huge', (c) => c[2] === 1, 'placed on h3');
    await remove('huge');
  });

  it('a host port held outside Berth is a reason, not a crash loop', async () => {
    const h1 = cluster.hosts[0]!;
    const server: Server = createServer();
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, h1.address, () => resolve((server.address() as { port: number }).port));
    });
    try {
      await apply('ports', `replicas: 3\nports: [{ containerPort: 8080, hostPort: ${port} }]\n`);
      await waitRunning('ports', (c) => c[1] === 1 && c[2] === 1 && c[0] === 0, 'h2 and h3 run it, h1 cannot');
      const reason = `2 nodes: port ${port}/tcp taken by default/ports; 1 node: port ${port}/tcp in use on the host (not by Berth)`;
      await cluster.waitFor(
        async () =>
          (await cluster.client().listTasks({ service: 'ports' })).some((t) => t.status?.message === `no suitable node: ${reason}`),
        'the busy port named as the reason',
      );
      expect((await cluster.berth(['get', 'tasks', 'ports'])).stdout).toContain(reason);
      // No crash loop: a few seconds later still exactly one failed attempt on h1.
      await new Promise((r) => setTimeout(r, 4000));
      const all = await cluster.client().listTasks({ service: 'ports', all: true });
      expect(all.filter((t) => t.status?.state === 'failed')).toHaveLength(1);
      expect(all.filter((t) => t.desiredState === 'running' && t.status?.state === 'pending')).toHaveLength(1);
      expect(
        (await cluster.berth(['plan', '-f', manifest('ports', `replicas: 3\nports: [{ containerPort: 8080, hostPort: ${port} }]\n`)]))
          .stdout,
      ).toMatch(new RegExp(`h1 +default/ports +port ${port}/tcp in use on the host \\(not by Berth\\)`));
    } finally {
      server.close();
    }
    await remove('ports');
  });

  it('cordon keeps tasks but takes no new ones; drain moves them start-first', async () => {
    await allNodes();
    await apply('web', 'replicas: 3\n');
    await waitRunning('web', (c) => c.every((n) => n === 1), 'one per node');
    expect((await cluster.berth(['nodes', 'cordon', 'h1'])).stdout).toContain('node/h1 cordoned (availability pause)');
    await apply('web', 'replicas: 5\n');
    await waitRunning('web', (c) => c[0] === 1 && c[1]! + c[2]! === 4, 'new replicas avoid the cordoned h1');
    expect((await cluster.berth(['nodes', 'uncordon', 'h1'])).code).toBe(0);

    const before = await cluster.client().listTasks({ service: 'web', nodeId: 'h3' });
    expect(before.length).toBeGreaterThan(0);
    const res = await cluster.berth(['nodes', 'drain', 'h3', '--wait', '--timeout', '60']);
    expect(res.stderr).toBe('');
    expect(res.stdout).toContain('node/h3 drained');
    const counts = await waitRunning('web', (c) => c[2] === 0 && c[0]! + c[1]! === 5, 'all five on h1 and h2');
    expect(counts[2]).toBe(0);
    // Start-first: each moved slot's new task ran before the old one on h3 was stopped.
    const all = await cluster.client().listTasks({ service: 'web', all: true });
    for (const old of before) {
      const successor = all.find((t) => t.slot === old.slot && t.desiredState === 'running');
      expect(successor?.status?.startedAtMs).toBeGreaterThan(0);
      const oldNow = all.find((t) => t.id === old.id)!;
      expect(oldNow.status?.state).toBe('shutdown');
      expect(successor!.status!.startedAtMs).toBeLessThanOrEqual(oldNow.status!.timestampMs);
    }
    expect((await cluster.berth(['nodes', 'ls'])).stdout).toMatch(/h3 +h3 +ready +drain /);
    expect((await cluster.berth(['nodes', 'uncordon', 'h3'])).code).toBe(0);
    await remove('web');
  });

  it('refuses bad node commands with a clear error and a non-zero exit', async () => {
    await allNodes();
    const bad = await cluster.berth(['nodes', 'label', 'h1', 'bad key=1']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('labels.bad key: label keys are');
    const missing = await cluster.berth(['nodes', 'drain', 'nope']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('node nope not found');
    const usage = await cluster.berth(['nodes', 'label', 'h1', 'novalue']);
    expect(usage.code).toBe(2);
    const badPlan = await cluster.berth(['plan', '-f', manifest('bad', 'placement: { constraints: ["zone = a"] }\n')]);
    expect(badPlan.code).not.toBe(0);
    expect(badPlan.stderr).toContain('spec.placement.constraints[0]');
  });
});
