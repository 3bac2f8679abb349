// Leader election on a real etcd: two controllers, one leader. Followers serve the API (writes
// included); leader-only loops run on one replica at a time and move when the leader goes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthClient } from '../../cli/src/client.js';
import { TestCluster, webManifest } from '../harness/cluster.js';

let cluster: TestCluster;

async function isLeader(metrics: string): Promise<boolean> {
  try {
    const text = await cluster.scrape(metrics, '/metrics', 2000);
    return /^berth_controller_is_leader 1$/m.test(text);
  } catch {
    return false;
  }
}

async function leaders(): Promise<string[]> {
  const out: string[] = [];
  for (const c of cluster.controllers) if (c.proc.isAlive() && (await isLeader(c.metrics))) out.push(c.id);
  return out;
}

beforeAll(async () => {
  cluster = await TestCluster.start({ hosts: 1, controllers: 2 });
});

afterAll(async () => {
  await cluster?.stop();
});

describe('leader election', () => {
  it('elects exactly one leader; a follower accepts writes that the leader carries out', async () => {
    await cluster.waitFor(async () => (await leaders()).length === 1, 'one leader');
    const [leader] = await leaders();
    const follower = cluster.controllers.find((c) => c.id !== leader)!;
    const f = join(cluster.dir, 'web.yaml');
    writeFileSync(f, webManifest({ replicas: 2 }));
    const res = await cluster.berth(['apply', '-f', f], { env: { BERTH_CONTROLLER: follower.address } });
    expect(res.code).toBe(0);
    await cluster.waitFor(async () => (await cluster.running(0)).length === 2, '2 running');
  });

  it('moves leadership when the leader is killed; the new leader reconciles and restarts nothing', async () => {
    const [leaderId] = await leaders();
    const leader = cluster.controllers.find((c) => c.id === leaderId)!;
    const other = cluster.controllers.find((c) => c.id !== leaderId)!;
    const before = (await cluster.running(0)).map((c) => c.Id).sort();
    const t0 = Date.now();
    leader.proc.signal('SIGKILL');
    await leader.proc.exited;
    await cluster.waitFor(async () => (await leaders()).includes(other.id), 'the other controller leads', 15_000);
    const failoverMs = Date.now() - t0;
    expect(failoverMs).toBeLessThan(10_000);
    // The agent follows the new leader; the new leader reconciles a change.
    const client = new BerthClient(other.address, cluster.transport);
    try {
      await cluster.waitFor(
        async () => (await client.listNodes()).every((n) => n.state === 'ready'),
        'node ready under the new leader',
        20_000,
      );
      const f = join(cluster.dir, 'web.yaml');
      writeFileSync(f, webManifest({ replicas: 3 }));
      expect((await cluster.berth(['apply', '-f', f], { env: { BERTH_CONTROLLER: other.address } })).code).toBe(0);
      await cluster.waitFor(async () => (await cluster.running(0)).length === 3, '3 running under the new leader', 30_000);
      const after = (await cluster.running(0)).map((c) => c.Id);
      for (const id of before) expect(after).toContain(id);
      expect((await client.listNodes()).map((n) => n.state)).toEqual(['ready']);
    } finally {
      client.close();
    }
  });
});
