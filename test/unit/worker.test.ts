import { describe, expect, it } from 'vitest';
import { Worker, type AssignmentSet } from '../../agent/src/worker.js';
import { containerLabels } from '../../agent/src/task-runner.js';
import { ContainerExistsError } from '../../agent/src/runtime/runtime.js';
import { ManualClock } from '../../proto/src/clock.js';
import { silentLogger } from '../../proto/src/log.js';
import {
  LABEL_MANAGED,
  LABEL_NAMESPACE,
  LABEL_NODE,
  LABEL_ON_NODE_LOSS,
  LABEL_STOP_GRACE_MS,
  LABEL_REVISION,
  LABEL_SERVICE,
  LABEL_SLOT,
  LABEL_TASK,
  LABEL_TASK_CREATED,
} from '../../proto/src/labels.js';
import type { TaskRecord, TaskStatus } from '../../proto/src/model.js';
import type { DesiredState } from '../../proto/src/types.js';
import { FakeRuntime } from './fake-runtime.js';
import { idle, mockService, mockTask, settle } from './fixtures.js';

const IMAGE = 'berth-local/web:1';
const NODE = 'n1';

function setup(o: { image?: boolean } = {}) {
  const clock = new ManualClock();
  const rt = new FakeRuntime(() => clock.now());
  if (o.image !== false) rt.images.add(IMAGE);
  const reports: Array<{ taskId: string; status: TaskStatus }> = [];
  const worker = new Worker({
    runtime: rt,
    nodeId: NODE,
    report: (taskId, status) => reports.push({ taskId, status }),
    log: silentLogger(),
    now: () => clock.now(),
    clock,
  });
  const statesOf = (id: string): string[] => reports.filter((r) => r.taskId === id).map((r) => r.status.state);
  const lastOf = (id: string): TaskStatus | undefined => reports.filter((r) => r.taskId === id).at(-1)?.status;
  const apply = async (set: Partial<AssignmentSet> & Pick<AssignmentSet, 'full'>): Promise<void> => {
    worker.apply({ upsert: [], remove: [], ...set });
    await worker.settled();
  };
  return { clock, rt, reports, worker, statesOf, lastOf, apply };
}

const svc = mockService({ replicas: 3, spec: { image: IMAGE, stop: { signal: 'SIGTERM', gracePeriod: 5_000 } } });
/** A task as the controller assigns it: placed on this node, desired running, status assigned. */
const task = (slot: number, o: { instance?: number; desiredState?: DesiredState } = {}): TaskRecord =>
  mockTask(svc, { slot, instance: o.instance ?? 0, nodeId: NODE, state: 'assigned', desiredState: o.desiredState ?? 'running' });
const svcNever = mockService({
  replicas: 3,
  spec: {
    image: IMAGE,
    stop: { signal: 'SIGTERM', gracePeriod: 5_000 },
    restart: { policy: 'never', backoff: { initial: 1_000, multiplier: 2, max: 300_000, resetAfter: 60_000 } },
  },
});
const neverTask = (slot: number): TaskRecord => mockTask(svcNever, { slot, nodeId: NODE, state: 'assigned' });
const withDesired = (t: TaskRecord, desiredState: DesiredState): TaskRecord => ({ ...t, desiredState });

/** Puts a container of `t` on the engine as an earlier agent run left it. */
const seedFor = (rt: FakeRuntime, t: TaskRecord, state: 'running' | 'exited' | 'created' = 'running', node = NODE) =>
  rt.seed({ name: t.containerName, labels: containerLabels(t, node), state, ...(state === 'created' ? { startedAtMs: 0 } : {}) });

describe('Worker + TaskRunner', () => {
  it('a full assignment creates and starts containers with the deterministic name and Berth labels', async () => {
    const { rt, apply, statesOf, worker } = setup();
    const t1 = task(1);
    const t2 = task(2);
    await apply({ full: true, upsert: [t1, t2] });

    for (const t of [t1, t2]) {
      const c = rt.byName(t.containerName);
      expect(c, t.containerName).toBeDefined();
      expect(c!.state).toBe('running');
      expect(c!.labels).toEqual({
        [LABEL_MANAGED]: 'true',
        [LABEL_TASK]: t.id,
        [LABEL_SERVICE]: 'web',
        [LABEL_NAMESPACE]: 'default',
        [LABEL_SLOT]: String(t.slot),
        [LABEL_NODE]: NODE,
        [LABEL_REVISION]: '1',
        [LABEL_TASK_CREATED]: String(t.createdAtMs),
        // The fence's labels are the runner's too (the engine held them before, added by the fence wrapper).
        [LABEL_ON_NODE_LOSS]: 'replace',
        [LABEL_STOP_GRACE_MS]: String(t.spec.stop.gracePeriod),
      });
      expect(statesOf(t.id)).toEqual(['preparing', 'starting', 'running']);
    }
    expect(t1.containerName).toBe('berth-default-web-1-0-u1');
    const writes = rt.writes();
    for (const t of [t1, t2]) {
      const create = writes.indexOf(`create ${t.containerName}`);
      const start = writes.indexOf(`start ${rt.byName(t.containerName)!.id}`);
      expect(create).toBeGreaterThanOrEqual(0);
      expect(start).toBeGreaterThan(create);
    }
    expect(writes).toHaveLength(4); // one create and one start each, nothing else
    expect(rt.callsOf('pullImage')).toHaveLength(0);
    expect(worker.taskIds.sort()).toEqual([t1.id, t2.id].sort());
  });

  it('reports the running status with the container id, ports and start time', async () => {
    const { rt, apply, lastOf, clock } = setup();
    const t = task(1);
    await apply({ full: true, upsert: [t] });
    const c = rt.byName(t.containerName)!;
    expect(lastOf(t.id)).toEqual({
      state: 'running',
      message: 'container running',
      containerId: c.id,
      ports: [],
      startedAtMs: clock.now(),
      timestampMs: clock.now(),
      health: '',
    });
  });

  it('pulls a missing image before creating; a present image is not pulled', async () => {
    const missing = setup({ image: false });
    const t = task(1);
    await missing.apply({ full: true, upsert: [t] });
    expect(missing.rt.callsOf('pullImage').map((c) => c.arg)).toEqual([IMAGE]);
    expect(missing.rt.writes()[0]).toBe(`pullImage ${IMAGE}`);
    expect(missing.reports.map((r) => r.status.message)).toEqual([
      'preparing container',
      `pulling image ${IMAGE}`,
      'starting container',
      'container running',
    ]);

    const present = setup();
    await present.apply({ full: true, upsert: [task(1)] });
    expect(present.rt.callsOf('hasImage').map((c) => c.arg)).toEqual([IMAGE]);
    expect(present.rt.callsOf('pullImage')).toEqual([]);
  });

  it('a failed pull stays preparing with the reason, creates nothing, and retries with backoff', async () => {
    const { rt, apply, lastOf } = setup({ image: false });
    rt.pullError = new Error('manifest unknown');
    const t = task(1);
    await apply({ full: true, upsert: [t] });
    expect(lastOf(t.id)).toMatchObject({
      state: 'preparing',
      message: `pull of ${IMAGE} failed: manifest unknown; retrying in 1s`,
      err: `pull of ${IMAGE} failed: manifest unknown`,
    });
    expect(rt.callsOf('create')).toEqual([]);
  });

  it('adopts a running container found by discover(): no create, start or stop (zero restarts)', async () => {
    const { rt, apply, worker, statesOf, lastOf } = setup();
    const t = { ...task(1), status: { state: 'running' as const, message: '', timestampMs: 0 } };
    const existing = seedFor(rt, t);
    const found = await worker.discover();
    expect(found.map((c) => c.id)).toEqual([existing.id]);
    await apply({ full: true, upsert: [t] });
    await idle();
    expect(rt.writes()).toEqual([]);
    expect(statesOf(t.id)).toEqual(['running']);
    expect(lastOf(t.id)?.containerId).toBe(existing.id);
    expect(rt.containers.get(existing.id)!.state).toBe('running');
  });

  it('adopts a container created but never started (agent died in between): starts it, no second create', async () => {
    const { rt, apply, worker, statesOf } = setup();
    const t = task(1);
    const c = seedFor(rt, t, 'created');
    await worker.discover();
    await apply({ full: true, upsert: [t] });
    expect(rt.writes()).toEqual([`start ${c.id}`]);
    expect(statesOf(t.id)).toEqual(['starting', 'running']);
  });

  it('a create that loses a race (409: name exists) uses the existing container', async () => {
    const { rt, apply, statesOf } = setup();
    const t = task(1);
    let raced = '';
    rt.beforeCreate = (req) => {
      rt.beforeCreate = undefined;
      raced = rt.seed({ name: req.name, labels: req.labels, state: 'created', startedAtMs: 0 }).id;
    };
    await apply({ full: true, upsert: [t] });
    expect(rt.containers.size).toBe(1);
    expect(rt.writes()).toEqual([`create ${t.containerName}`, `start ${raced}`]);
    expect(statesOf(t.id)).toEqual(['preparing', 'starting', 'running']);
  });

  it('a task new to the node costs the engine no lookup before its create', async () => {
    const { rt, apply } = setup();
    const t = task(1);
    await apply({ full: true, upsert: [t] });
    const id = rt.byName(t.containerName)!.id;
    expect(rt.calls.map((c) => `${c.op} ${c.arg}`)).toEqual([
      `hasImage ${IMAGE}`,
      `create ${t.containerName}`,
      `start ${id}`,
      `inspect ${id}`,
    ]);
  });

  it('a name the engine holds without a container is tried twice, then left to the resync (no hot loop)', async () => {
    const { rt, apply, worker } = setup();
    const t = task(1);
    rt.beforeCreate = (req) => {
      throw new ContainerExistsError(req.name);
    };
    await apply({ full: true, upsert: [t] });
    expect(rt.callsOf('create')).toHaveLength(2);
    rt.beforeCreate = undefined;
    await worker.resync();
    await worker.settled();
    expect(rt.byName(t.containerName)?.state).toBe('running');
  });

  it('the periodic resync lists the node once and inspects only the containers runners own', async () => {
    const { rt, apply, worker } = setup();
    const tasks = [task(1), task(2), task(3)];
    await apply({ full: true, upsert: tasks });
    rt.calls.length = 0;
    await worker.resync();
    await worker.settled();
    expect(rt.callsOf('summaries')).toHaveLength(1);
    expect(rt.callsOf('list')).toHaveLength(0);
    expect(
      rt
        .callsOf('inspect')
        .map((c) => c.arg)
        .sort(),
    ).toEqual(tasks.map((t) => rt.byName(t.containerName)!.id).sort());
    expect(rt.writes()).toEqual([]);
  });

  it('removes containers the first full set does not name, and nothing before a full set', async () => {
    const { rt, apply, worker } = setup();
    const kept = task(1);
    const stale = task(2);
    const staleExited = task(3);
    const keptC = seedFor(rt, kept);
    const staleC = seedFor(rt, stale);
    const exitedC = seedFor(rt, staleExited, 'exited');
    const otherNode = seedFor(rt, task(2, { instance: 7 }), 'running', 'n2');
    await worker.discover();

    // A delta before any full set: the agent cannot know what it owns yet.
    await apply({ full: false, upsert: [kept], remove: [stale.id] });
    await worker.resync(); // the periodic resync neither
    await idle();
    expect(rt.callsOf('stop')).toEqual([]);
    expect(rt.callsOf('remove')).toEqual([]);
    expect(rt.containers.size).toBe(4);

    await apply({ full: true, upsert: [kept] });
    await settle(() => !rt.containers.has(staleC.id) && !rt.containers.has(exitedC.id), 'stale containers removed');
    expect(rt.writes()).toEqual([`stop ${staleC.id}`, `remove ${staleC.id}`, `remove ${exitedC.id}`]);
    expect(rt.callsOf('stop')[0]!.graceMs).toBeGreaterThan(0);
    expect(rt.containers.get(keptC.id)!.state).toBe('running'); // untouched
    expect(rt.containers.has(otherNode.id)).toBe(true); // another node's container is never ours
  });

  it('a full set stops and removes tasks it no longer names', async () => {
    const { rt, apply, worker } = setup();
    const t1 = task(1);
    const t2 = task(2);
    await apply({ full: true, upsert: [t1, t2] });
    const c2 = rt.byName(t2.containerName)!;
    await apply({ full: true, upsert: [t1] });
    await settle(() => !rt.containers.has(c2.id), 'removed');
    expect(worker.taskIds).toEqual([t1.id]);
    expect(rt.writes().slice(-2)).toEqual([`stop ${c2.id}`, `remove ${c2.id}`]);
  });

  it('desired shutdown stops the container with the spec grace period and reports shutdown', async () => {
    const { rt, apply, statesOf, lastOf } = setup();
    const t = task(1);
    await apply({ full: true, upsert: [t] });
    const c = rt.byName(t.containerName)!;
    await apply({ full: false, upsert: [withDesired(t, 'shutdown')] });
    expect(rt.callsOf('stop')).toEqual([{ op: 'stop', arg: c.id, graceMs: 5_000 }]);
    expect(statesOf(t.id)).toEqual(['preparing', 'starting', 'running', 'shutdown']);
    expect(lastOf(t.id)).toMatchObject({ state: 'shutdown', message: 'stopped', containerId: c.id, exitCode: 143 });
    expect(rt.containers.has(c.id)).toBe(true); // stopped, kept until removal

    // Then desired remove: the container goes, no new status.
    await apply({ full: false, upsert: [withDesired(t, 'remove')] });
    expect(rt.containers.has(c.id)).toBe(false);
    expect(statesOf(t.id)).toHaveLength(4);
  });

  it('desired shutdown of a task never started reports shutdown without touching the engine', async () => {
    const { rt, apply, lastOf } = setup();
    const t = task(1, { desiredState: 'shutdown' });
    await apply({ full: true, upsert: [t] });
    expect(rt.writes()).toEqual([]);
    expect(lastOf(t.id)).toMatchObject({ state: 'shutdown', message: 'never started' });
  });

  it('removal from the set stops and removes the container', async () => {
    const { rt, apply, worker } = setup();
    const t = task(1);
    await apply({ full: true, upsert: [t] });
    const c = rt.byName(t.containerName)!;
    await apply({ full: false, remove: [t.id] });
    await settle(() => !rt.containers.has(c.id), 'container removed');
    expect(rt.writes().slice(-2)).toEqual([`stop ${c.id}`, `remove ${c.id}`]);
    expect(rt.callsOf('stop').at(-1)!.graceMs).toBe(5_000);
    expect(worker.taskIds).toEqual([]);
    worker.poke(t.id); // a late engine event for it changes nothing
    await idle();
    expect(rt.callsOf('create')).toHaveLength(1);
  });

  it('with restart policy never, a container that exits reports failed with its exit code and is not restarted', async () => {
    const { rt, apply, worker, statesOf, lastOf, clock } = setup();
    const t = neverTask(1);
    await apply({ full: true, upsert: [t] });
    const c = rt.byName(t.containerName)!;
    clock.advance(1_000);
    rt.exit(c.id, 3, 'oops');
    worker.poke(t.id); // the engine's die event
    await worker.settled();
    expect(lastOf(t.id)).toMatchObject({
      state: 'failed',
      message: 'exited with code 3: oops (restart policy never)',
      exitCode: 3,
      containerId: c.id,
    });

    // Later pokes, a resync and a repeated assignment never restart it.
    worker.poke(t.id);
    await worker.resync();
    await apply({ full: true, upsert: [t] });
    await worker.settled();
    expect(rt.callsOf('start')).toHaveLength(1);
    expect(rt.callsOf('create')).toHaveLength(1);
    expect(statesOf(t.id)).toEqual(['preparing', 'starting', 'running', 'failed']);
    expect(rt.containers.get(c.id)!.state).toBe('exited');
  });

  it('with restart policy never, a container that exits 0 reports complete', async () => {
    const { rt, apply, worker, lastOf } = setup();
    const t = neverTask(1);
    await apply({ full: true, upsert: [t] });
    rt.exit(rt.byName(t.containerName)!.id, 0);
    worker.poke(t.id);
    await worker.settled();
    expect(lastOf(t.id)).toMatchObject({ state: 'complete', message: 'exited with code 0 (restart policy never)', exitCode: 0 });
    expect(lastOf(t.id)!.err).toBeUndefined();
  });

  it('a container removed behind its back is reported failed, not recreated', async () => {
    const { rt, apply, worker, lastOf } = setup();
    const t = task(1);
    await apply({ full: true, upsert: [t] });
    rt.containers.clear();
    worker.poke(t.id);
    await worker.settled();
    expect(lastOf(t.id)).toMatchObject({ state: 'failed', message: 'container disappeared' });
    expect(rt.callsOf('create')).toHaveLength(1);
  });

  it('statuses() returns the last status of every task (sent again after a reconnect)', async () => {
    const { apply, worker } = setup();
    await apply({ full: true, upsert: [task(1), task(2)] });
    expect(
      worker
        .statuses()
        .map((s) => [s.taskId, s.status.state])
        .sort(),
    ).toEqual([
      ['u1-1-0', 'running'],
      ['u1-2-0', 'running'],
    ]);
  });

  it('a leftover container of an earlier task with the same id is removed, not adopted', async () => {
    const { rt, apply, statesOf } = setup();
    const t = task(1);
    // The slot was scaled away and back: an old container with the same name exited long ago.
    const old = rt.seed({
      name: t.containerName,
      labels: { ...containerLabels(t, NODE), [LABEL_TASK_CREATED]: String(t.createdAtMs - 60_000) },
      state: 'exited',
      exitCode: 137,
    });
    await apply({ full: true, upsert: [t] });
    expect(rt.containers.has(old.id)).toBe(false);
    const c = rt.byName(t.containerName);
    expect(c?.state).toBe('running');
    expect(c?.labels[LABEL_TASK_CREATED]).toBe(String(t.createdAtMs));
    expect(statesOf(t.id)).not.toContain('failed');
    expect(statesOf(t.id).at(-1)).toBe('running');
  });

  it('a task already terminal when assigned (after an agent restart) is left as it is', async () => {
    const { rt, apply, worker, reports } = setup();
    const t: TaskRecord = { ...task(1), status: { state: 'failed', message: 'exit 1', exitCode: 1, timestampMs: 0 } };
    seedFor(rt, t, 'exited');
    await worker.discover();
    await apply({ full: true, upsert: [t] });
    expect(rt.writes()).toEqual([]);
    expect(reports).toEqual([]);
    expect(worker.statuses()).toEqual([{ taskId: t.id, status: t.status }]);
  });
});
