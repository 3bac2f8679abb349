// Issue 5 on two real hosts: a replica that keeps failing on one node is given up there after
// LOCAL_RESTARTS_BEFORE_MOVE in-place restarts, and its replacement lands on the other node,
// where it runs. The fault belongs to one host only: its engine's copy of the image carries a
// marker file that makes the program exit (as a corrupt image cache or a bad disk would).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestCluster, image, webManifest } from '../harness/cluster.js';
import { LOCAL_RESTARTS_BEFORE_MOVE } from '../../agent/src/restart-plan.js';
import type { Task__Output } from '../../proto/gen/berth/v1/Task.js';

const FLAKY = 'berth-local/flaky:1';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ hosts: 2 });
});

afterAll(async () => {
  await cluster?.stop();
});

/** Tags the busybox image as FLAKY; on `bad` engines the image also carries /bad. */
async function buildFlaky(docker: Docker, bad: boolean): Promise<void> {
  const [repo, tag] = FLAKY.split(':') as [string, string];
  if (!bad) {
    await docker.getImage(image()).tag({ repo, tag });
    return;
  }
  const c = await docker.createContainer({ Image: image(), Cmd: ['touch', '/bad'] });
  try {
    await c.start();
    await c.wait();
    await c.commit({ repo, tag, changes: ['CMD ["sh"]'] });
  } finally {
    await c.remove({ force: true });
  }
}

it('after repeated failures on one node, the replacement goes to the other node and runs there', async () => {
  await buildFlaky(cluster.hosts[0]!.docker, true);
  await buildFlaky(cluster.hosts[1]!.docker, false);
  // Left alone, the scheduler would put the replacement back on h1: h2 runs another service
  // (spread prefers the node with fewer tasks). Only the failures on h1 may send it to h2.
  expect((await cluster.berth(['nodes', 'cordon', 'h1'])).code).toBe(0);
  const other = join(cluster.dir, 'other.yaml');
  writeFileSync(other, webManifest({ name: 'other', replicas: 1, port: false }));
  expect((await cluster.berth(['apply', '-f', other])).code).toBe(0);
  await cluster.waitFor(
    async () => (await cluster.client().listTasks({ service: 'other' }))[0]?.status?.state === 'running',
    'the other service running on h2',
    30_000,
  );
  expect((await cluster.client().listTasks({ service: 'other' }))[0]!.nodeId).toBe('h2');
  // The first placement must be h1, the node where the program fails: h2 takes nothing new yet.
  expect((await cluster.berth(['nodes', 'uncordon', 'h1'])).code).toBe(0);
  expect((await cluster.berth(['nodes', 'cordon', 'h2'])).code).toBe(0);
  const f = join(cluster.dir, 'flaky.yaml');
  writeFileSync(
    f,
    [
      'apiVersion: berth.dev/v1',
      'kind: Service',
      'metadata: { name: flaky }',
      'spec:',
      `  image: ${FLAKY}`,
      '  command: [sh, -c, "test -f /bad && exit 3; exec httpd -f -p 8080 -h /www"]',
      '  stop: { gracePeriod: 1s }',
      '  restart: { policy: always, backoff: { initial: 300ms, max: 1s } }',
      '',
    ].join('\n'),
  );
  const res = await cluster.berth(['apply', '-f', f]);
  expect(res.code, res.stderr).toBe(0);
  const all = (): Promise<Task__Output[]> => cluster.client().listTasks({ service: 'flaky', all: true });
  await cluster.waitFor(async () => (await all()).some((t) => t.nodeId === 'h1'), 'the first task placed on h1', 30_000);
  expect((await cluster.berth(['nodes', 'uncordon', 'h2'])).code).toBe(0);

  // h1's task crash-loops in place, is given up there, and the slot's next task runs on h2.
  let moved: Task__Output | undefined;
  await cluster.waitFor(
    async () => {
      moved = (await cluster.client().listTasks({ service: 'flaky' })).find((t) => t.nodeId === 'h2' && t.status?.state === 'running');
      return moved !== undefined;
    },
    'the replacement running on h2',
    60_000,
  );
  const history = await all();
  const gaveUp = history.find((t) => t.nodeId === 'h1' && t.status?.state === 'failed');
  expect(gaveUp, JSON.stringify(history.map((t) => [t.id, t.nodeId, t.status?.state, t.status?.message]))).toBeDefined();
  expect(gaveUp!.status!.restarts).toBe(LOCAL_RESTARTS_BEFORE_MOVE);
  expect(gaveUp!.status!.message).toContain(`${LOCAL_RESTARTS_BEFORE_MOVE} restarts in a row on this node`);
  expect(gaveUp!.slot).toBe(moved!.slot);

  // It stays up on h2: no restart there, one running container on h2, none running on h1.
  await new Promise((r) => setTimeout(r, 2_000));
  const now = (await cluster.client().listTasks({ service: 'flaky' })).find((t) => t.id === moved!.id)!;
  expect(now.status).toMatchObject({ state: 'running', restarts: 0 });
  expect((await cluster.running(1)).filter((c) => c.Labels['berth.service'] === 'flaky')).toHaveLength(1);
  expect((await cluster.running(0)).filter((c) => c.Labels['berth.service'] === 'flaky')).toHaveLength(0);
  for (const name of ['flaky', 'other']) expect((await cluster.berth(['delete', 'service', name])).code).toBe(0);
});
