// Issue 17, item 3, on a real engine: a rollout that cannot progress. Three replicas on host ports
// the engine assigns, then the same service with replicas 2 on one fixed host port: the first new
// task takes the port, the second cannot be placed. `apply --wait` and `rollout status` say
// "stuck: …" with the scheduler's reason at once; after update.progressDeadline (5s here) the
// rollout fails and failureAction rollback brings back the old spec's replicas.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../cli/src/local/process.js';
import { RolloutClient } from '../../cli/src/rollout-client.js';
import type { Task__Output } from '../../proto/gen/berth/v1/Task.js';
import type { ServiceSpec } from '../../proto/src/spec/service.js';
import { TestCluster, image } from '../harness/cluster.js';

let cluster: TestCluster;
let rollouts: RolloutClient;

beforeAll(async () => {
  cluster = await TestCluster.start({ hosts: 1 });
  rollouts = new RolloutClient(cluster.controllers[0]!.address, cluster.transport);
});

afterAll(async () => {
  rollouts?.close();
  await cluster?.stop();
});

let seq = 0;
function manifest(spec: string): string {
  const f = join(cluster.dir, `web-${++seq}.yaml`);
  writeFileSync(
    f,
    `apiVersion: berth.dev/v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  image: ${image()}\n  command: [httpd, -f, -p, "8080", -h, /www]\n  stop: { gracePeriod: 1s }\n${spec}`,
  );
  return f;
}

const ready = (t: Task__Output): boolean => t.status?.state === 'running' && (!t.status.health || t.status.health === 'healthy');
const hostPortOf = (t: Task__Output): number => (JSON.parse(t.specJson) as ServiceSpec).ports?.[0]?.hostPort ?? 0;

describe('a rollout that cannot progress', () => {
  it('says "stuck: …" with the reason at once, fails after progressDeadline and rolls back to the old replicas', async () => {
    const first = await cluster.berth([
      'apply',
      '--wait',
      '--timeout',
      '90s',
      '-f',
      manifest('  replicas: 3\n  ports: [{ containerPort: 8080 }]\n'),
    ]);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const hostPort = await freePort();
    const update = `  replicas: 2\n  ports: [{ containerPort: 8080, hostPort: ${hostPort} }]\n  update: { progressDeadline: 5s, monitor: 1s }\n`;
    const startedAt = Date.now();
    let applyEnded = false;
    const applying = cluster.berth(['apply', '--wait', '--timeout', '90s', '-f', manifest(update)]).finally(() => (applyEnded = true));
    // rollout status follows revision 2 once it is written (before, it would report revision 1 done).
    await cluster.waitFor(
      async () => applyEnded || (await cluster.client().getService('default', 'web')).specRevision === 2,
      'revision 2 to be written',
      30_000,
    );
    const [applied, status] = await Promise.all([applying, cluster.berth(['rollout', 'status', 'web', '--timeout', '90s'])]);
    const tookMs = Date.now() - startedAt;
    const taken = `port ${hostPort}/tcp taken by default/web`;

    // apply --wait: the stuck line with the scheduler's reason, then the failure (rolled back), exit 1.
    expect(applied.code, applied.stdout + applied.stderr).toBe(1);
    const lines = applied.stdout.split('\n');
    const stuckAt = lines.findIndex((l) => l.includes('stuck: ') && l.includes(taken));
    expect(stuckAt, applied.stdout).toBeGreaterThanOrEqual(0);
    expect(lines[stuckAt]).toMatch(/stuck: web\.2 pending: no suitable node: .*fails after 5s without progress/);
    const failedAt = lines.findIndex((l) => l.includes('failed: '));
    expect(failedAt, applied.stdout).toBeGreaterThan(stuckAt);
    expect(applied.stderr).toMatch(/service\/default\/web: failed: rollout of revision 2 failed and was rolled back: .*no progress for 5s/);
    expect(applied.stderr).toContain(taken);
    expect(tookMs).toBeLessThan(60_000); // the deadline ended it, not the 90s timeout

    // rollout status: the same stuck line, then the rollback; exit 1.
    expect(status.code, status.stdout + status.stderr).toBe(1);
    const sLines = status.stdout.split('\n');
    const sStuck = sLines.findIndex(
      (l) => /^revision 2 updating: .*stuck: web\.2 pending: no suitable node: /.test(l) && l.includes(taken),
    );
    expect(sStuck, status.stdout).toBeGreaterThanOrEqual(0);
    const sRollback = sLines.findIndex((l) => /^revision 3 rollback_started: /.test(l));
    expect(sRollback, status.stdout).toBeGreaterThan(sStuck);
    expect(status.stderr).toMatch(/rollout failed and was rolled back: .*no progress for 5s \(update\.progressDeadline\)/);

    // The rollback completes: two replicas of the old spec (engine-assigned ports) run.
    await cluster.waitFor(
      async () => (await rollouts.get('default', 'web')).state === 'rollback_completed',
      'the rollback to complete',
      60_000,
    );
    const r = await rollouts.get('default', 'web');
    expect(r).toMatchObject({ revision: 3, rollbackOf: 2, previousRevision: 1 });
    const tasks = await cluster.client().listTasks({ service: 'web' });
    expect(tasks).toHaveLength(2);
    expect(tasks.every((t) => ready(t) && hostPortOf(t) === 0)).toBe(true);
    // Slot 1 got a task of revision 3 (the old spec again); slot 2 kept its revision-1 task, which
    // runs that same spec, and only the unplaceable revision-2 task went.
    expect(tasks.map((t) => [t.slot, t.specRevision]).sort()).toEqual([
      [1, 3],
      [2, 1],
    ]);
    const history = await cluster.berth(['rollout', 'history', 'web']);
    expect(history.stdout).toMatch(/3\* .*rollback to 1 \(automatic: no progress for 5s/);
  });
});
