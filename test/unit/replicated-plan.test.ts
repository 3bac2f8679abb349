import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RESTART_DELAY_MS, planReplicated, type PlanInput } from '../../controller/src/orchestrator/replicated-plan.js';
import { TASK_HISTORY_PER_SLOT, type ServicePlan as ReplicatedPlan } from '../../controller/src/orchestrator/slot-plan.js';
import { containerName, instanceOf, taskId } from '../../controller/src/model/task-identity.js';
import type { ServiceRecord, TaskRecord } from '../../proto/src/model.js';
import { taskSpecKey } from '../../proto/src/spec/service.js';
import { TASK_STATE_ORDER, isTerminal, type DesiredState, type NodeState, type TaskState } from '../../proto/src/types.js';
import { T0, configureProperties, mockService, mockTask } from './fixtures.js';
import { isOutdated } from '../../proto/src/lifecycle-model.js';

configureProperties();

type Nodes = PlanInput['nodes'];
const nodesOf = (states: Record<string, NodeState>): Nodes => new Map(Object.entries(states).map(([id, state]) => [id, { state }]));
const READY: Nodes = nodesOf({ n1: 'ready', n2: 'ready', n3: 'ready' });

/** The plan without its rollout bookkeeping (rollout-plan.test.ts covers that). */
const plan = (service: ServiceRecord, tasks: TaskRecord[], nowMs = T0, nodes: Nodes = READY): ReplicatedPlan => {
  const { rollout: _r, rolloutEvents: _e, rollbackTo: _b, ...rest } = planReplicated({ service, tasks, nodes, nowMs });
  return rest;
};

const EMPTY: ReplicatedPlan = { create: [], update: [], delete: [], deleteService: false };

/** A running, converged task set for slots 1..n. */
const runningSlots = (svc: ServiceRecord, n: number): TaskRecord[] =>
  Array.from({ length: n }, (_, i) => mockTask(svc, { slot: i + 1, nodeId: `n${(i % 3) + 1}` }));

describe('planReplicated', () => {
  describe('a new service', () => {
    it('creates slots 1..N with deterministic ids, pending placement', () => {
      const svc = mockService({ replicas: 3, specRevision: 2 });
      const p = plan(svc, []);
      expect(p.update).toEqual([]);
      expect(p.delete).toEqual([]);
      expect(p.deleteService).toBe(false);
      expect(p.requeueAfterMs).toBeUndefined();
      expect(p.create.map((t) => [t.id, t.slot, t.containerName])).toEqual([
        ['u1-1-0', 1, 'berth-default-web-1-0-u1'],
        ['u1-2-0', 2, 'berth-default-web-2-0-u1'],
        ['u1-3-0', 3, 'berth-default-web-3-0-u1'],
      ]);
      for (const t of p.create) {
        expect(t).toMatchObject({
          namespace: 'default',
          service: 'web',
          serviceUid: 'u1',
          nodeId: '',
          specRevision: 2,
          desiredState: 'running',
          createdAtMs: T0,
          status: { state: 'pending', message: 'waiting for placement', timestampMs: T0 },
        });
        expect(t.spec).toEqual(svc.spec);
      }
      expect(plan(svc, [])).toEqual(p); // same input, same plan
    });

    it('with zero replicas plans nothing', () => {
      expect(plan(mockService({ replicas: 0 }), [])).toEqual(EMPTY);
    });

    it('ids and names helpers agree', () => {
      const svc = mockService({ uid: 'a-b-c' });
      expect(taskId('a-b-c', 4, 7)).toBe('a-b-c-4-7');
      expect(instanceOf({ id: taskId('a-b-c', 4, 7) })).toBe(7);
      expect(containerName(svc, 4, 7)).toBe('berth-default-web-4-7-a-b-c');
    });
  });

  describe('idempotence', () => {
    it('a converged service gives an empty plan', () => {
      const svc = mockService({ replicas: 3 });
      expect(plan(svc, runningSlots(svc, 3))).toEqual(EMPTY);
    });

    it('a converged service with bounded history gives an empty plan', () => {
      const svc = mockService({ replicas: 2 });
      const history = Array.from({ length: TASK_HISTORY_PER_SLOT }, (_, i) =>
        mockTask(svc, { slot: 1, instance: i, desiredState: 'shutdown', state: 'failed' }),
      );
      const live = mockTask(svc, { slot: 1, instance: TASK_HISTORY_PER_SLOT });
      expect(plan(svc, [...history, live, mockTask(svc, { slot: 2 })])).toEqual(EMPTY);
    });

    it('tasks still starting on the current revision are left alone', () => {
      const svc = mockService({ replicas: 3 });
      const tasks = [
        mockTask(svc, { slot: 1, state: 'pending', nodeId: '' }),
        mockTask(svc, { slot: 2, state: 'preparing' }),
        mockTask(svc, { slot: 3, state: 'starting' }),
      ];
      expect(plan(svc, tasks)).toEqual(EMPTY);
    });

    it('tasks on an unknown node are not replaced (only down nodes are)', () => {
      const svc = mockService({ replicas: 2 });
      const nodes = nodesOf({ n1: 'unknown', n2: 'ready' });
      expect(plan(svc, [mockTask(svc, { slot: 1, nodeId: 'n1' }), mockTask(svc, { slot: 2, nodeId: 'n2' })], T0, nodes)).toEqual(EMPTY);
    });
  });

  describe('scaling', () => {
    it('up: creates only the new slots', () => {
      const svc = mockService({ replicas: 5 });
      const p = plan(svc, runningSlots(svc, 3));
      expect(p.create.map((t) => t.id)).toEqual(['u1-4-0', 'u1-5-0']);
      expect(p.update).toEqual([]);
      expect(p.delete).toEqual([]);
    });

    it('down: shuts slots above replicas down, then deletes them once dead', () => {
      const svc = mockService({ replicas: 1 });
      const tasks = runningSlots(svc, 3);
      const p1 = plan(svc, tasks);
      expect(p1.create).toEqual([]);
      expect(p1.delete).toEqual([]);
      expect(p1.update).toEqual([
        { taskId: 'u1-2-0', desiredState: 'shutdown' },
        { taskId: 'u1-3-0', desiredState: 'shutdown' },
      ]);

      // Desired state written, the agents have not stopped them yet: nothing more to do.
      const stopping = tasks.map((t) => (t.slot > 1 ? { ...t, desiredState: 'shutdown' as const } : t));
      expect(plan(svc, stopping)).toEqual(EMPTY);

      // One stopped: its slot still has a running task, so the slot waits.
      const oneDead = stopping.map((t) => (t.slot === 2 ? { ...t, status: { ...t.status, state: 'shutdown' as const } } : t));
      expect(plan(svc, oneDead).delete).toEqual(['u1-2-0']);

      const allDead = stopping.map((t) => (t.slot > 1 ? { ...t, status: { ...t.status, state: 'shutdown' as const } } : t));
      const p2 = plan(svc, allDead);
      expect(p2.delete.sort()).toEqual(['u1-2-0', 'u1-3-0']);
      expect(p2.update).toEqual([]);
      expect(p2.create).toEqual([]);
    });

    it('down: an unplaced task above replicas is deleted at once (no shutdown update for it)', () => {
      const svc = mockService({ replicas: 1 });
      const tasks = [mockTask(svc, { slot: 1 }), mockTask(svc, { slot: 2, nodeId: '', state: 'pending' })];
      expect(plan(svc, tasks)).toEqual({ ...EMPTY, delete: ['u1-2-0'] });
    });

    it('to zero shuts every slot down', () => {
      const svc = mockService({ replicas: 0 });
      const p = plan(svc, runningSlots(svc, 2));
      expect(p.update.map((u) => [u.taskId, u.desiredState])).toEqual([
        ['u1-1-0', 'shutdown'],
        ['u1-2-0', 'shutdown'],
      ]);
      expect(p.create).toEqual([]);
    });
  });

  describe('failed tasks', () => {
    const svc = mockService({ replicas: 2 });
    const failedAt = T0;
    const failed = mockTask(svc, { slot: 2, instance: 4, state: 'failed', timestampMs: failedAt });
    const tasks = [mockTask(svc, { slot: 1 }), failed];

    it('are shut down at once but replaced only after RESTART_DELAY_MS', () => {
      const p = plan(svc, tasks, failedAt + 300);
      expect(p.update).toEqual([{ taskId: failed.id, desiredState: 'shutdown' }]);
      expect(p.create).toEqual([]);
      expect(p.requeueAfterMs).toBe(RESTART_DELAY_MS - 300);
    });

    it('once shut down, wait for the delay without further writes', () => {
      const shut = { ...failed, desiredState: 'shutdown' as const };
      const p = plan(svc, [tasks[0]!, shut], failedAt + RESTART_DELAY_MS - 1);
      expect(p).toEqual({ ...EMPTY, requeueAfterMs: 1 });
    });

    it('are replaced in the same slot with instance + 1 after the delay', () => {
      const shut = { ...failed, desiredState: 'shutdown' as const };
      const p = plan(svc, [tasks[0]!, shut], failedAt + RESTART_DELAY_MS);
      expect(p.create.map((t) => [t.id, t.slot, t.desiredState])).toEqual([['u1-2-5', 2, 'running']]);
      expect(p.requeueAfterMs).toBeUndefined();
      expect(p.update).toEqual([]);
    });

    it('a task that completed (exit 0) also waits for the delay; rejected too', () => {
      for (const state of ['complete', 'rejected'] as const) {
        const t = mockTask(svc, { slot: 1, state, timestampMs: T0 });
        const p = plan(mockService({ replicas: 1 }), [t], T0 + 10);
        expect(p.create).toEqual([]);
        expect(p.requeueAfterMs).toBe(RESTART_DELAY_MS - 10);
      }
    });

    it('the shortest pending delay is the requeue', () => {
      const s3 = mockService({ replicas: 3 });
      const ts = [
        mockTask(s3, { slot: 1, state: 'failed', timestampMs: T0 }),
        mockTask(s3, { slot: 2, state: 'failed', timestampMs: T0 + 600 }),
        mockTask(s3, { slot: 3 }),
      ];
      expect(plan(s3, ts, T0 + 700).requeueAfterMs).toBe(RESTART_DELAY_MS - 700);
    });
  });

  describe('node loss', () => {
    it('a task on a down node is given up as orphaned (its container removed on return) and replaced at once', () => {
      const svc = mockService({ replicas: 2 });
      const lost = mockTask(svc, { slot: 1, instance: 2, nodeId: 'n1' });
      const nodes = nodesOf({ n1: 'down', n2: 'ready' });
      const p = plan(svc, [lost, mockTask(svc, { slot: 2, nodeId: 'n2' })], T0 + 5_000, nodes);
      expect(p.update).toEqual([
        { taskId: lost.id, desiredState: 'remove', status: { state: 'orphaned', message: 'node down', timestampMs: T0 + 5_000 } },
      ]);
      expect(p.create.map((t) => [t.id, t.nodeId])).toEqual([['u1-1-3', '']]);
      expect(p.requeueAfterMs).toBeUndefined();
    });

    it('a task already terminal on a down node keeps its status', () => {
      const svc = mockService({ replicas: 1 });
      const t = mockTask(svc, { slot: 1, nodeId: 'n1', state: 'shutdown' });
      const p = plan(svc, [t], T0, nodesOf({ n1: 'down' }));
      expect(p.update).toEqual([{ taskId: t.id, desiredState: 'shutdown' }]);
      expect(p.create.map((x) => x.id)).toEqual(['u1-1-1']);
    });
  });

  describe('rolling replacement on a spec change (stop-first, one at a time)', () => {
    const oneAtATime = {
      maxSurge: 0,
      maxUnavailable: 1,
      order: 'stop-first',
      monitor: 0,
      delay: 0,
      failureAction: 'rollback',
      maxFailureRatio: 0,
      progressDeadline: 120_000,
    };
    const v2 = mockService({ replicas: 3, specRevision: 2, spec: { image: 'berth-local/web:2', update: oneAtATime } });
    const v1Tasks = runningSlots(mockService({ replicas: 3, specRevision: 1, spec: { image: 'berth-local/web:1' } }), 3);

    it('replaces one slot (the lowest) at a time', () => {
      const p = plan(v2, v1Tasks);
      expect(p.update).toEqual([{ taskId: 'u1-1-0', desiredState: 'shutdown' }]);
      expect(p.create.map((t) => [t.id, t.slot, t.specRevision])).toEqual([['u1-1-1', 1, 2]]);
      expect(p.delete).toEqual([]);
    });

    it('waits while a replacement is still starting', () => {
      const tasks: TaskRecord[] = [
        { ...v1Tasks[0]!, desiredState: 'shutdown', status: { ...v1Tasks[0]!.status, state: 'shutdown' } },
        mockTask(v2, { slot: 1, instance: 1, state: 'starting' }),
        v1Tasks[1]!,
        v1Tasks[2]!,
      ];
      // Nothing to do but to look again at the rollout's progress deadline.
      const waiting = { ...EMPTY, requeueAfterMs: 120_000 };
      expect(plan(v2, tasks)).toEqual(waiting);
      const unplaced = tasks.map((t) => (t.id === 'u1-1-1' ? { ...t, nodeId: '', status: { ...t.status, state: 'pending' as const } } : t));
      expect(plan(v2, unplaced)).toEqual(waiting);
    });

    it('moves on to the next slot once the replacement runs', () => {
      const tasks: TaskRecord[] = [
        { ...v1Tasks[0]!, desiredState: 'shutdown', status: { ...v1Tasks[0]!.status, state: 'shutdown' } },
        mockTask(v2, { slot: 1, instance: 1 }),
        v1Tasks[1]!,
        v1Tasks[2]!,
      ];
      const p = plan(v2, tasks);
      expect(p.update).toEqual([{ taskId: 'u1-2-0', desiredState: 'shutdown' }]);
      expect(p.create.map((t) => t.id)).toEqual(['u1-2-1']);
    });

    it('a revision that only changes the replica count replaces nothing', () => {
      const scaled = mockService({ replicas: 3, specRevision: 2, spec: { image: 'berth-local/web:1' } });
      const oldTasks = runningSlots(mockService({ replicas: 2, specRevision: 1, spec: { image: 'berth-local/web:1' } }), 2);
      const p = plan(scaled, oldTasks);
      expect(p.update).toEqual([]);
      expect(p.create.map((t) => [t.id, t.specRevision])).toEqual([['u1-3-0', 2]]);
    });

    it('a dead outdated task is refilled at the new revision without waiting for the rollout', () => {
      const tasks: TaskRecord[] = [
        mockTask(v2, { slot: 1, instance: 1, state: 'starting' }),
        { ...v1Tasks[1]!, status: { ...v1Tasks[1]!.status, state: 'shutdown' } },
        v1Tasks[2]!,
      ];
      const p = plan(v2, tasks);
      expect(p.create.map((t) => [t.id, t.specRevision])).toEqual([['u1-2-1', 2]]);
      expect(p.update).toEqual([{ taskId: 'u1-2-0', desiredState: 'shutdown' }]);
    });
  });

  describe('deleting the service', () => {
    const svc = mockService({ replicas: 2, deleting: true });

    it('shuts every live task down first', () => {
      const tasks = runningSlots(svc, 2);
      const p = plan(svc, tasks);
      expect(p.update).toEqual([
        { taskId: 'u1-1-0', desiredState: 'shutdown' },
        { taskId: 'u1-2-0', desiredState: 'shutdown' },
      ]);
      expect(p.delete).toEqual([]);
      expect(p.create).toEqual([]);
      expect(p.deleteService).toBe(false);
    });

    it('waits while a container may still run', () => {
      const tasks = runningSlots(svc, 2).map((t) => ({ ...t, desiredState: 'shutdown' as const }));
      expect(plan(svc, tasks)).toEqual(EMPTY);
    });

    it('deletes all records and the service once every task is dead or unplaced', () => {
      const tasks = [
        mockTask(svc, { slot: 1, desiredState: 'shutdown', state: 'shutdown' }),
        mockTask(svc, { slot: 1, instance: 1, desiredState: 'shutdown', state: 'failed' }),
        mockTask(svc, { slot: 2, nodeId: '', state: 'pending' }),
      ];
      const p = plan(svc, tasks);
      expect(p.delete.sort()).toEqual(['u1-1-0', 'u1-1-1', 'u1-2-0']);
      expect(p.update).toEqual([]); // no update for a record that is deleted
      expect(p.deleteService).toBe(true);
      expect(p.create).toEqual([]);
    });

    it('tasks on a down node count as dead', () => {
      const t = mockTask(svc, { slot: 1, nodeId: 'n9' });
      const p = plan(svc, [t], T0, nodesOf({ n9: 'down' }));
      expect(p.delete).toEqual([t.id]);
      expect(p.deleteService).toBe(true);
    });

    it('with no tasks at all deletes the service', () => {
      expect(plan(svc, [])).toEqual({ ...EMPTY, deleteService: true });
    });
  });

  it('deletes leftover tasks of an older incarnation (other uid) and plans the new one', () => {
    const svc = mockService({ replicas: 1, uid: 'u2' });
    const old = mockTask(svc, { slot: 1, serviceUid: 'u1' });
    const p = plan(svc, [old]);
    expect(p.delete).toEqual(['u1-1-0']);
    expect(p.create.map((t) => t.id)).toEqual(['u2-1-0']);
    expect(p.update).toEqual([]);
  });

  it(`trims history to the newest ${TASK_HISTORY_PER_SLOT} dead tasks per slot`, () => {
    const svc = mockService({ replicas: 2 });
    const dead = (slot: number, instance: number): TaskRecord =>
      mockTask(svc, { slot, instance, desiredState: 'shutdown', state: 'failed' });
    const tasks = [
      ...[0, 1, 2, 3, 4].map((i) => dead(1, i)),
      mockTask(svc, { slot: 1, instance: 5 }),
      dead(2, 0),
      dead(2, 1),
      mockTask(svc, { slot: 2, instance: 2 }),
    ];
    const p = plan(svc, tasks);
    expect(p.delete).toEqual(['u1-1-0', 'u1-1-1']);
    expect(p.create).toEqual([]);
    expect(p.update).toEqual([]);
  });

  it('history: never-placed tasks that were shut down count as dead; stopping ones do not', () => {
    const svc = mockService({ replicas: 1 });
    const tasks = [
      mockTask(svc, { slot: 1, instance: 0, desiredState: 'shutdown', nodeId: '', state: 'pending' }),
      mockTask(svc, { slot: 1, instance: 1, desiredState: 'shutdown', state: 'running' }), // still stopping
      mockTask(svc, { slot: 1, instance: 2, desiredState: 'shutdown', state: 'failed' }),
      mockTask(svc, { slot: 1, instance: 3, desiredState: 'shutdown', state: 'failed' }),
      mockTask(svc, { slot: 1, instance: 4, desiredState: 'shutdown', state: 'failed' }),
      mockTask(svc, { slot: 1, instance: 5 }),
    ];
    expect(plan(svc, tasks).delete).toEqual(['u1-1-0']);
  });

  it('two live tasks in one slot: the newest stays, the older is shut down', () => {
    const svc = mockService({ replicas: 1 });
    const older = mockTask(svc, { slot: 1, instance: 3 });
    const newer = mockTask(svc, { slot: 1, instance: 10 });
    const p = plan(svc, [newer, older]);
    expect(p).toEqual({ ...EMPTY, update: [{ taskId: older.id, desiredState: 'shutdown' }] });
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const NODE_STATES: Record<string, NodeState> = { n1: 'ready', n2: 'ready', n3: 'down' };
const PROP_NODES = nodesOf(NODE_STATES);
const NOW = T0 + 60_000;

interface Scenario {
  service: ServiceRecord;
  tasks: TaskRecord[];
}

const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    replicas: fc.integer({ min: 0, max: 6 }),
    specRevision: fc.integer({ min: 1, max: 3 }),
    // The image of revisions 1..3: equal images make a revision a scale-only change.
    images: fc.tuple(fc.constantFrom('a', 'b'), fc.constantFrom('a', 'b'), fc.constantFrom('a', 'b')),
    raw: fc.uniqueArray(
      fc.record({
        slot: fc.integer({ min: 1, max: 8 }),
        instance: fc.integer({ min: 0, max: 5 }),
        oldUid: fc.boolean(),
        desiredState: fc.constantFrom<DesiredState>('running', 'running', 'shutdown', 'remove'),
        state: fc.constantFrom<TaskState>(...TASK_STATE_ORDER),
        nodeId: fc.constantFrom('', 'n1', 'n2', 'n3'),
        rev: fc.integer({ min: 1, max: 3 }),
        age: fc.integer({ min: 0, max: 2 * RESTART_DELAY_MS }),
      }),
      { maxLength: 20, selector: (t) => `${t.oldUid}-${t.slot}-${t.instance}` },
    ),
  })
  .map(({ replicas, specRevision, images, raw }) => {
    const svcAt = (rev: number): ServiceRecord =>
      mockService({ replicas, specRevision: rev, spec: { image: `berth-local/web:${images[rev - 1]!}` } });
    const tasks = raw.map((r) =>
      mockTask(svcAt(Math.min(r.rev, specRevision)), {
        slot: r.slot,
        instance: r.instance,
        serviceUid: r.oldUid ? 'u0' : 'u1',
        desiredState: r.desiredState,
        // An unplaced task has not been seen by any agent: it is pending.
        state: r.nodeId === '' ? 'pending' : r.state,
        nodeId: r.nodeId,
        timestampMs: NOW - r.age,
      }),
    );
    return { service: svcAt(specRevision), tasks };
  });

/** Writes a plan into a task set the way the shell commits it. */
function applyPlan(tasks: TaskRecord[], p: ReplicatedPlan): TaskRecord[] {
  const updates = new Map(p.update.map((u) => [u.taskId, u]));
  const deleted = new Set(p.delete);
  const out = tasks
    .filter((t) => !deleted.has(t.id))
    .map((t) => {
      const u = updates.get(t.id);
      return u ? { ...t, desiredState: u.desiredState, ...(u.status ? { status: u.status } : {}) } : t;
    });
  return [...out, ...p.create];
}

/** The scheduler and agents: place pending live tasks, run live ones, stop the rest (down nodes do nothing). */
function simulateCluster(tasks: TaskRecord[], nowMs: number): TaskRecord[] {
  let rr = 0;
  return tasks.map((t) => {
    if (t.nodeId === '' && t.desiredState === 'running') {
      const nodeId = rr++ % 2 === 0 ? 'n1' : 'n2';
      return { ...t, nodeId, status: { state: 'running', message: '', timestampMs: nowMs } };
    }
    if (t.nodeId === '' || NODE_STATES[t.nodeId] === 'down' || isTerminal(t.status.state)) return t;
    if (t.desiredState === 'running')
      return t.status.state === 'running' ? t : { ...t, status: { state: 'running', message: '', timestampMs: nowMs } };
    return { ...t, status: { state: 'shutdown', message: '', timestampMs: nowMs } };
  });
}

const liveBySlot = (tasks: TaskRecord[]): Map<number, TaskRecord[]> => {
  const m = new Map<number, TaskRecord[]>();
  for (const t of tasks) {
    if (t.desiredState !== 'running' || t.serviceUid !== 'u1') continue;
    m.set(t.slot, [...(m.get(t.slot) ?? []), t]);
  }
  return m;
};

describe('planReplicated properties', () => {
  it('leaves at most two live tasks in a slot (an outdated one and its start-first successor) and creates none outside 1..replicas', () => {
    fc.assert(
      fc.property(scenarioArb, ({ service: svc, tasks }) => {
        const { replicas } = svc.spec;
        const { specRevision } = svc;
        const p = planReplicated({ service: svc, tasks, nodes: PROP_NODES, nowMs: NOW });
        const ids = new Set(tasks.map((t) => t.id));
        for (const c of p.create) {
          expect(c.slot).toBeGreaterThanOrEqual(1);
          expect(c.slot).toBeLessThanOrEqual(replicas);
          expect(ids.has(c.id)).toBe(false); // a fresh id, never a reused one
          ids.add(c.id);
          expect(c.specRevision).toBe(specRevision);
        }
        // Updates only move desired state forward, and only for tasks that exist and stay.
        const byId = new Map(tasks.map((t) => [t.id, t]));
        for (const u of p.update) {
          expect(byId.get(u.taskId)?.desiredState).toBe('running');
          expect(p.delete).not.toContain(u.taskId);
        }
        expect(new Set(p.delete).size).toBe(p.delete.length);
        const after = applyPlan(tasks, p);
        for (const [slot, live] of liveBySlot(after)) {
          expect(live.length).toBeLessThanOrEqual(2);
          if (live.length === 2) {
            const [older, newer] = [...live].sort((a, b) => instanceOf(a) - instanceOf(b));
            expect(isOutdated(older!, svc)).toBe(true);
            expect(isOutdated(newer!, svc)).toBe(false);
          }
          expect(slot).toBeLessThanOrEqual(replicas);
        }
        // Determinism: a pure function of its input.
        expect(planReplicated({ service: svc, tasks, nodes: PROP_NODES, nowMs: NOW })).toEqual(p);
      }),
    );
  });

  it('applied repeatedly, converges to exactly `replicas` running tasks at the current revision', () => {
    fc.assert(
      fc.property(scenarioArb, ({ service: svc, tasks: initial }) => {
        const { replicas } = svc.spec;
        let tasks = initial;
        let now = NOW;
        let steps = 0;
        for (;;) {
          const p = planReplicated({ service: svc, tasks, nodes: PROP_NODES, nowMs: now });
          const next = simulateCluster(applyPlan(tasks, p), now);
          const idle = p.create.length === 0 && p.update.length === 0 && p.delete.length === 0;
          // Done when neither the planner nor the agents have anything left to do.
          if (idle && p.requeueAfterMs === undefined && JSON.stringify(next) === JSON.stringify(tasks)) break;
          expect(++steps).toBeLessThan(60);
          tasks = next;
          now += p.requeueAfterMs ?? 1;
        }
        const live = tasks.filter((t) => t.desiredState === 'running');
        expect(live.every((t) => t.serviceUid === 'u1')).toBe(true);
        expect(live.map((t) => t.slot).sort((a, b) => a - b)).toEqual(Array.from({ length: replicas }, (_, i) => i + 1));
        for (const t of live) {
          expect(t.status.state).toBe('running');
          // Runs what the service says (a scale-only revision change keeps older tasks).
          expect(taskSpecKey(t.spec)).toBe(taskSpecKey(svc.spec));
          expect(NODE_STATES[t.nodeId]).toBe('ready');
        }
        // Nothing of the old incarnation and no slot above replicas is left.
        expect(tasks.filter((t) => t.serviceUid !== 'u1')).toEqual([]);
        const highSlots = tasks.filter((t) => t.slot > replicas && !(NODE_STATES[t.nodeId] === 'down' && !isTerminal(t.status.state)));
        expect(highSlots).toEqual([]);
        // History stays bounded.
        const perSlot = new Map<number, number>();
        for (const t of tasks)
          if (t.desiredState !== 'running' && isTerminal(t.status.state)) perSlot.set(t.slot, (perSlot.get(t.slot) ?? 0) + 1);
        for (const n of perSlot.values()) expect(n).toBeLessThanOrEqual(TASK_HISTORY_PER_SLOT);
      }),
    );
  });
});
