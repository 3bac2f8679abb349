// A replica killed by the kernel for exceeding its own memory limit, on a real engine: the task
// status, `describe`, the event stream, `apply --wait`'s failure line and the restarts metric say
// "killed: out of memory (limit 8Mi)" rather than "exited with code 137", and the agent keeps
// restarting it where it is instead of giving the node up (the same limit fails on every node).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestCluster, image } from '../harness/cluster.js';
import { LOCAL_RESTARTS_BEFORE_MOVE } from '../../agent/src/restart-plan.js';
import type { Task__Output } from '../../proto/gen/berth/v1/Task.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ hosts: 1 });
});

afterAll(async () => {
  await cluster?.stop();
});

/**
 * Doubles a shell variable until the kernel kills the process: past any limit within a second.
 * After half a second: a process killed within milliseconds of its start can end before the
 * engine watches its cgroup's OOM events, and then neither OOMKilled nor an `oom` event tells it
 * (1 of 25 such starts in a probe). The agent cannot know of such a kill; it is a plain SIGKILL.
 */
const GROW = 'sleep 0.5; x=a; while true; do x="$x$x"; done';
const OOM = /killed: out of memory \(limit 8Mi\)/;

it('the engine itself tells such a kill, by OOMKilled or its oom event (the premise of what follows)', async () => {
  const docker = cluster.hosts[0]!.docker;
  const c = await docker.createContainer({
    Image: image(),
    Cmd: ['sh', '-c', GROW],
    HostConfig: { Memory: 8 * 2 ** 20, MemorySwap: 8 * 2 ** 20 },
  });
  try {
    const since = Math.floor(Date.now() / 1000) - 1;
    await c.start();
    await c.wait();
    const s = (await c.inspect()).State;
    // The oom event may come after the exit (and then OOMKilled stays false): read the events
    // up to a moment after it.
    const until = Math.ceil(Date.now() / 1000) + 2;
    const raw = await docker.getEvents({ since, until, filters: { container: [c.id], event: ['oom'] } });
    let text = '';
    for await (const chunk of raw) text += String(chunk);
    expect({ exitCode: s.ExitCode, told: s.OOMKilled || text.includes('"oom"') }).toEqual({ exitCode: 137, told: true });
  } finally {
    await c.remove({ force: true });
  }
});

it('a replica killed by its memory limit: the reason in status, get, describe, events, apply --wait and the metric; restarted where it is', async () => {
  const f = join(cluster.dir, 'oom.yaml');
  writeFileSync(
    f,
    [
      'apiVersion: berth.dev/v1',
      'kind: Service',
      'metadata: { name: oom }',
      'spec:',
      `  image: ${image()}`,
      `  command: [sh, -c, '${GROW}']`,
      '  resources: { limits: { memory: 8Mi } }',
      '  restart: { policy: always, backoff: { initial: 200ms, multiplier: 2, max: 1s } }',
      '  stop: { gracePeriod: 1s }',
      // Never healthy and never unhealthy: the container lives past the CLI's settle time (the
      // sleep above), so without a check the first crash could come after apply --wait called
      // the service converged.
      '  health: { exec: { command: [test, -e, /never] }, interval: 1h, timeout: 1s, startPeriod: 1h }',
      '',
    ].join('\n'),
  );
  // apply --wait fails and its failure line names the reason, not the exit code. Which judgment
  // ends the wait first depends on timing: the CLI's crash loop (three failures in a row) or the
  // rollout's (a first revision whose one new task failed pauses: maxFailureRatio 0); both name
  // the task and why it failed.
  const applied = await cluster.berth(['apply', '-f', f, '--wait', '--timeout', '60s']);
  expect(applied.code, applied.stdout + applied.stderr).toBe(1);
  const failureLine = applied.stderr.split('\n').find((l) => l.includes('service/default/oom: failed:'));
  expect(failureLine, applied.stderr).toMatch(
    /(crash loop|rollout of revision 1 paused: .*last failure): oom\.1 running: killed: out of memory \(limit 8Mi\); restarting in /,
  );
  expect(applied.stdout + applied.stderr).not.toMatch(/exited with code 137/);

  // Past the count that moves a crash loop away from its node, the same task goes on restarting
  // here, and its status says why it was not moved.
  let task: Task__Output | undefined;
  await cluster.waitFor(
    async () => {
      const all = await cluster.client().listTasks({ service: 'oom', all: true });
      task = all[0];
      return all.length === 1 && (task?.status?.restarts ?? 0) > LOCAL_RESTARTS_BEFORE_MOVE && task?.status?.container === 'backoff';
    },
    `more than ${LOCAL_RESTARTS_BEFORE_MOVE} restarts in place`,
    60_000,
  );
  const all = await cluster.client().listTasks({ service: 'oom', all: true });
  expect(all.map((t) => t.id)).toEqual([task!.id]);
  expect(all[0]!.status).toMatchObject({ state: 'running', container: 'backoff', exitCode: 137, oomKilled: true });
  expect(all[0]!.status!.message).toMatch(OOM);
  expect(all[0]!.status!.message).toMatch(/not moved to another node: its memory limit, not the node, is the cause/);
  expect(all[0]!.status!.message).not.toMatch(/preferring another node|exited with code/);
  // What the engine recorded, for the container the task reports.
  const inspected = await cluster.hosts[0]!.docker.getContainer(all[0]!.status!.containerId).inspect();
  expect(inspected.HostConfig.Memory).toBe(8 * 2 ** 20);

  // get tasks, describe (task and service) and the events show the reason.
  await cluster.waitFor(async () => OOM.test((await cluster.berth(['get', 'tasks', 'oom'])).stdout), 'get tasks shows the reason', 30_000);
  const describedTask = (await cluster.berth(['describe', 'task', task!.id])).stdout;
  expect(describedTask).toMatch(new RegExp(`Message: +${OOM.source}`));
  const describedService = await cluster.berth(['describe', 'service', 'oom']);
  expect(describedService.stdout).toMatch(new RegExp(`Reason: +crash loop: oom\\.1 running: ${OOM.source}`));
  await cluster.waitFor(
    async () => {
      const res = await cluster.berth(['events', '--service', 'oom', '--type', 'task.state', '-o', 'json']);
      const events = res.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { message?: string });
      return events.some((e) => OOM.test(e.message ?? ''));
    },
    'a task.state event with the reason',
    30_000,
  );

  // The agent counts those restarts as oom_killed, and no other reason.
  const [node] = await cluster.client().listNodes();
  const text = await cluster.scrape(node!.description!.metricsAddress);
  const count = (reason: string): number => {
    const m = new RegExp(`^berth_task_restarts_total\\{namespace="default",service="oom",slot="1",reason="${reason}"\\} (\\d+)$`, 'm').exec(
      text,
    );
    expect(m, `${reason} series in\n${text}`).not.toBeNull();
    return Number(m![1]);
  };
  expect(count('oom_killed')).toBeGreaterThan(LOCAL_RESTARTS_BEFORE_MOVE);
  expect({ exited: count('exited'), unhealthy: count('unhealthy'), replaced: count('replaced') }).toEqual({
    exited: 0,
    unhealthy: 0,
    replaced: 0,
  });

  expect((await cluster.berth(['delete', 'service', 'oom'])).code).toBe(0);
});
