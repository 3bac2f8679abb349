// Issue 2's end-to-end slice on real components: etcd, nats-server, two dockerd "hosts", one
// controller and two agents (the built berth binary), driven through the real CLI.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_NAMESPACE, LABEL_NODE, LABEL_SERVICE, LABEL_SLOT, LABEL_TASK, LABEL_REVISION } from '../../proto/src/labels.js';
import { TestCluster, webManifest } from '../harness/cluster.js';

let cluster: TestCluster;

beforeAll(async () => {
  // A long down-after: the agent-restart test must not race the node-loss timer on a loaded machine.
  cluster = await TestCluster.start({ hosts: 2, downAfter: '60s' });
});

afterAll(async () => {
  await cluster?.stop();
});

function manifest(replicas: number): string {
  const f = join(cluster.dir, `web-${replicas}.yaml`);
  writeFileSync(f, webManifest({ replicas }));
  return f;
}

async function runningCounts(): Promise<number[]> {
  return Promise.all(cluster.hosts.map(async (_h, i) => (await cluster.running(i)).length));
}

async function waitCounts(expected: number[], what: string): Promise<void> {
  await cluster.waitFor(
    async () => {
      const all = await Promise.all(cluster.hosts.map((_h, i) => cluster.containers(i)));
      const running = await runningCounts();
      // exact: the expected number running and nothing else left on the engine
      return running.every((n, i) => n === expected[i]) && all.every((cs, i) => cs.length === expected[i]);
    },
    what,
    60_000,
  );
}

describe('foundation slice on two Docker hosts', () => {
  it('applies a 4-replica service: 2 running containers per engine, labelled, shown by get tasks', async () => {
    const res = await cluster.berth(['apply', '-f', manifest(4)]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('service/default/web created (revision 1)');
    await waitCounts([2, 2], '2 running containers on each engine');

    for (const [i, h] of cluster.hosts.entries()) {
      for (const c of await cluster.containers(i)) {
        expect(c.Labels[LABEL_SERVICE]).toBe('web');
        expect(c.Labels[LABEL_NAMESPACE]).toBe('default');
        expect(c.Labels[LABEL_NODE]).toBe(h.nodeId);
        expect(c.Labels[LABEL_TASK]).toMatch(/^[0-9a-z]{8}-[1-4]-0$/);
        expect(Number(c.Labels[LABEL_SLOT])).toBeGreaterThanOrEqual(1);
        expect(c.Labels[LABEL_REVISION]).toBe('1');
      }
    }
    await cluster.waitFor(async () => {
      const out = (await cluster.berth(['get', 'tasks'])).stdout;
      return out.split('\n').filter((l) => / running +running /.test(l)).length === 4;
    }, 'get tasks shows 4 running');
    const out = (await cluster.berth(['get', 'tasks'])).stdout;
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME +NAMESPACE +NODE +DESIRED +STATE/);
    for (const h of cluster.hosts) {
      expect(lines.filter((l) => l.includes(` ${h.nodeId} `) && / running +running /.test(l))).toHaveLength(2);
      // the address column points at the host's own published port
      expect(out).toContain(`${h.address}:`);
    }
    // Every replica answers on its published address.
    const tasks = await cluster.client().listTasks({ service: 'web' });
    for (const t of tasks) {
      const p = t.status!.ports[0]!;
      const res = await fetch(`http://${t.nodeAddress}:${p.hostPort}/`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('Hello from Berth');
    }
  });

  it('scales to 6 and then to 1 by re-applying: exact container counts per engine', async () => {
    expect((await cluster.berth(['apply', '-f', manifest(6)])).stdout).toContain('configured (revision 2)');
    await waitCounts([3, 3], '3 per engine');
    expect((await cluster.berth(['apply', '-f', manifest(1)])).stdout).toContain('configured (revision 3)');
    await cluster.waitFor(async () => {
      const c = await runningCounts();
      const all = (await cluster.containers(0)).length + (await cluster.containers(1)).length;
      return c[0]! + c[1]! === 1 && all === 1;
    }, 'exactly one container in the cluster');
  });

  it('re-applying the unchanged manifest writes no revision and touches no container', async () => {
    const before = await Promise.all([0, 1].map(async (i) => (await cluster.containers(i)).map((c) => `${c.Id}:${c.State}`)));
    const svcBefore = await cluster.client().getService('default', 'web');
    const res = await cluster.berth(['apply', '-f', manifest(1)]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('service/default/web unchanged');
    const svcAfter = await cluster.client().getService('default', 'web');
    expect(svcAfter.specRevision).toBe(svcBefore.specRevision);
    expect(svcAfter.modRevision).toBe(svcBefore.modRevision);
    await new Promise((r) => setTimeout(r, 1000));
    const after = await Promise.all([0, 1].map(async (i) => (await cluster.containers(i)).map((c) => `${c.Id}:${c.State}`)));
    expect(after).toEqual(before);
  });

  it('kill -9 of an agent and a restart: zero container restarts, status reported again', async () => {
    expect((await cluster.berth(['apply', '-f', manifest(4)])).code).toBe(0);
    await waitCounts([2, 2], '2 per engine again');
    const snapshot = async (i: number) => {
      const out = new Map<string, string>();
      for (const c of await cluster.containers(i)) {
        const info = await cluster.hosts[i]!.docker.getContainer(c.Id).inspect();
        out.set(c.Id, `${info.State.StartedAt}|${info.RestartCount}|${info.State.Status}`);
      }
      return out;
    };
    const before = await snapshot(0);
    const other = await snapshot(1);
    expect(before.size).toBe(2);

    await cluster.killAgent(0);
    await cluster.waitFor(
      async () => (await cluster.client().listNodes()).find((n) => n.id === 'h1')?.state === 'unknown',
      'h1 unknown after the kill',
      10_000,
    );
    // While the agent is away, one of its containers dies: the restarted agent must report it.
    const [victimId] = [...before.keys()];
    await cluster.hosts[0]!.docker.getContainer(victimId!).kill({ signal: 'SIGKILL' });
    await cluster.startAgent(0);
    await cluster.waitFor(
      async () => (await cluster.client().listNodes()).find((n) => n.id === 'h1')?.state === 'ready',
      'h1 ready again',
      20_000,
    );

    // The dead container is seen and restarted in place (restart policy always, counted); the others untouched.
    await cluster.waitFor(
      async () => {
        const tasks = await cluster.client().listTasks({ service: 'web', all: true });
        return tasks.some((t) => t.status?.containerId === victimId && (t.status?.restarts ?? 0) >= 1);
      },
      'the killed container restarted',
      20_000,
    );
    const after = await snapshot(0);
    for (const [id, state] of before) if (id !== victimId) expect(after.get(id)).toBe(state);
    expect(await snapshot(1)).toEqual(other);
    await cluster.waitFor(
      async () => (await cluster.client().listTasks({ service: 'web' })).filter((t) => t.status?.state === 'running').length === 4,
      '4 running again',
    );
  });

  it('deletes the service: zero Berth containers left on either engine, records gone', async () => {
    const res = await cluster.berth(['delete', 'service', 'web']);
    expect(res.code).toBe(0);
    await cluster.waitFor(
      async () => (await cluster.containers(0)).length + (await cluster.containers(1)).length === 0,
      'no Berth containers',
      60_000,
    );
    await cluster.waitFor(async () => (await cluster.client().listServices()).length === 0, 'service record gone', 30_000);
    expect(await cluster.client().listTasks({ all: true })).toHaveLength(0);
  });

  it('refuses invalid manifests with the field named and stores nothing', async () => {
    const cases: Array<[string, string]> = [
      [webManifest({ name: 'bad1', extra: '  colour: blue\n' }), 'spec.colour: unknown field'],
      [webManifest({ name: 'bad2', replicas: -1 }), 'spec.replicas: must be at least 0'],
      [
        'apiVersion: berth.dev/v1\nkind: Service\nmetadata: { name: bad3 }\nspec: { replicas: 1 }\n',
        'spec.image: required field is missing',
      ],
    ];
    for (const [text, message] of cases) {
      const f = join(cluster.dir, 'bad.yaml');
      writeFileSync(f, text);
      const res = await cluster.berth(['apply', '-f', f]);
      expect(res.code).not.toBe(0);
      expect(res.stderr).toContain(message);
    }
    // The server refuses them too (a client that skips validation gets the same answer).
    await expect(
      cluster.client().applyService({
        manifestJson: JSON.stringify({
          apiVersion: 'berth.dev/v1',
          kind: 'Service',
          metadata: { name: 'bad4' },
          spec: { image: 'x', replicas: -2 },
        }),
      }),
    ).rejects.toThrow(/spec.replicas: must be at least 0/);
    expect(await cluster.client().listServices()).toHaveLength(0);
  });
});
