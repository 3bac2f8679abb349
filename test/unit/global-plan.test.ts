import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planGlobal } from '../../controller/src/orchestrator/global-plan.js';
import { eligibleNodes } from '../../controller/src/model/node-attributes.js';
import { globalTaskId } from '../../controller/src/model/task-identity.js';
import { rolloutProgress } from '../../controller/src/orchestrator/rollout-plan.js';
import type { NodeRecord, TaskRecord } from '../../proto/src/model.js';
import type { NodeAvailability, NodeState } from '../../proto/src/types.js';
import { T0, configureProperties, mockNode, mockService } from './fixtures.js';

configureProperties();

const svc = (placement?: { constraints: string[] }) =>
  mockService({ name: 'agent', spec: { mode: 'global', ...(placement ? { placement: { strategy: 'spread', ...placement } } : {}) } });

function labelled(id: string, labels: Record<string, string>, o: { state?: NodeState; availability?: NodeAvailability } = {}): NodeRecord {
  return { ...mockNode(id, o), labels };
}

/** A global task of svc on node, running unless told otherwise. */
function gtask(nodeId: string, o: Partial<TaskRecord> & { state?: TaskRecord['status']['state'] } = {}): TaskRecord {
  const s = svc();
  const { state, ...rest } = o;
  return {
    id: globalTaskId(s.meta.uid, nodeId, 0),
    namespace: 'default',
    service: 'agent',
    serviceUid: s.meta.uid,
    slot: 0,
    nodeId,
    targetNodeId: nodeId,
    specRevision: 1,
    desiredState: 'running',
    spec: s.spec,
    containerName: `c-${nodeId}`,
    createdAtMs: T0,
    status: { state: state ?? 'running', message: '', timestampMs: T0 },
    ...rest,
  };
}

describe('planGlobal', () => {
  it('creates one task pinned to every ready, active node that meets the constraints', () => {
    const nodes = [
      labelled('n1', { gpu: 'yes' }),
      labelled('n2', {}),
      labelled('n3', { gpu: 'yes' }, { availability: 'pause' }),
      labelled('n4', { gpu: 'yes' }, { state: 'unknown' }),
      labelled('n5', { gpu: 'yes' }),
    ];
    const plan = planGlobal({ service: svc({ constraints: ['node.labels.gpu == yes'] }), tasks: [], nodes, nowMs: T0 });
    expect(plan.create.map((t) => [t.targetNodeId, t.nodeId, t.slot, t.id])).toEqual([
      ['n1', '', 0, 'u1-n1-0'],
      ['n5', '', 0, 'u1-n5-0'],
    ]);
    expect(plan.update).toEqual([]);
  });

  it('keeps tasks on paused and unknown nodes; stops them on drained ones and where labels no longer match', () => {
    const nodes = [
      labelled('n1', { gpu: 'yes' }, { availability: 'pause' }),
      labelled('n2', { gpu: 'yes' }, { state: 'unknown' }),
      labelled('n3', { gpu: 'yes' }, { availability: 'drain' }),
      labelled('n4', { gpu: 'no' }),
    ];
    const tasks = ['n1', 'n2', 'n3', 'n4'].map((n) => gtask(n));
    const plan = planGlobal({ service: svc({ constraints: ['node.labels.gpu == yes'] }), tasks, nodes, nowMs: T0 });
    expect(plan.create).toEqual([]);
    expect(plan.update.map((u) => [u.taskId, u.desiredState])).toEqual([
      ['u1-n3-0', 'shutdown'],
      ['u1-n4-0', 'shutdown'],
    ]);
  });

  it('a node that goes down orphans its task; when it is back a new task is made for it', () => {
    const down = planGlobal({ service: svc(), tasks: [gtask('n1')], nodes: [mockNode('n1', { state: 'down' })], nowMs: T0 });
    // As for every service (node-loss-plan.ts): given up, its container removed when the node returns.
    expect(down.update).toEqual([
      { taskId: 'u1-n1-0', desiredState: 'remove', status: { state: 'orphaned', message: 'node down', timestampMs: T0 } },
    ]);
    expect(down.create).toEqual([]);
    const orphan = gtask('n1', { desiredState: 'shutdown', state: 'orphaned' });
    const back = planGlobal({ service: svc(), tasks: [orphan], nodes: [mockNode('n1')], nowMs: T0 });
    expect(back.create.map((t) => t.id)).toEqual(['u1-n1-1']);
  });

  it('handles a lost node as every service does: waitForNode waits for the fence, a mass loss suspends giving up', () => {
    const waiting = mockService({ name: 'agent', spec: { mode: 'global', onNodeLoss: 'waitForNode' } });
    const task = { ...gtask('n1'), spec: waiting.spec };
    const lostAt = { state: 'down' as const, lastContactMs: T0 };
    const early = planGlobal({
      service: waiting,
      tasks: [task],
      nodes: [{ ...mockNode('n1'), ...lostAt }],
      nowMs: T0 + 1_000,
      nodeLoss: { fenceAfterMs: 30_000 },
    });
    // Retired (the node is down), but not given up before its agent fenced the container.
    expect(early.update).toEqual([{ taskId: 'u1-n1-0', desiredState: 'shutdown' }]);
    expect(early.requeueAfterMs).toBeGreaterThan(29_000);
    // Two of three nodes lost at once: the control plane is the likely one cut off.
    const nodes = [{ ...mockNode('n1'), ...lostAt }, { ...mockNode('n2'), ...lostAt }, mockNode('n3')];
    const mass = planGlobal({ service: svc(), tasks: ['n1', 'n2', 'n3'].map((n) => gtask(n)), nodes, nowMs: T0 + 60_000 });
    expect(mass.update.map((u) => [u.taskId, u.desiredState, u.status?.state])).toEqual([
      ['u1-n1-0', 'shutdown', undefined],
      ['u1-n2-0', 'shutdown', undefined],
    ]);
  });

  it('a new service on 5,000 nodes gets one task per node, each its first instance', () => {
    const nodes = Array.from({ length: 5_000 }, (_, i) => mockNode(`n${String(i).padStart(4, '0')}`));
    const plan = planGlobal({ service: svc(), tasks: [], nodes, nowMs: T0 });
    expect(plan.create).toHaveLength(5_000);
    expect(plan.create.every((t) => t.id === `u1-${t.targetNodeId}-0`)).toBe(true);
  });

  it('a failed task is replaced after the restart backoff; outdated ones by the rolling update, one node at a time', () => {
    const failed = gtask('n1', { state: 'failed' });
    expect(planGlobal({ service: svc(), tasks: [failed], nodes: [mockNode('n1')], nowMs: T0 }).requeueAfterMs).toBe(1000);
    expect(planGlobal({ service: svc(), tasks: [failed], nodes: [mockNode('n1')], nowMs: T0 + 1000 }).create.map((t) => t.id)).toEqual([
      'u1-n1-1',
    ]);
    const newer = { ...svc(), specRevision: 2, spec: { ...svc().spec, image: 'berth-local/busybox:2' } };
    // start-first (the default update order), maxSurge 1: one node at a time, the old task stays until the new one is ready.
    const plan = planGlobal({ service: newer, tasks: [gtask('n1'), gtask('n2')], nodes: [mockNode('n1'), mockNode('n2')], nowMs: T0 });
    expect(plan.update).toEqual([]);
    expect(plan.create.map((t) => [t.id, t.specRevision, t.targetNodeId])).toEqual([['u1-n1-1', 2, 'n1']]);
    const starting = { ...plan.create[0]!, nodeId: 'n1', status: { state: 'running' as const, message: '', timestampMs: T0 } };
    const next = planGlobal({
      service: newer,
      tasks: [gtask('n1'), starting, gtask('n2')],
      nodes: [mockNode('n1'), mockNode('n2')],
      nowMs: T0 + 10,
    });
    expect(next.update.map((u) => u.taskId)).toEqual(['u1-n1-0']);
    expect(next.create.map((t) => t.id)).toEqual(['u1-n2-1']);
    // stop-first: the old task stops first.
    const stopFirst = {
      ...newer,
      spec: { ...newer.spec, update: { ...newer.spec.update, order: 'stop-first' as const, maxUnavailable: 1 } },
    };
    const sf = planGlobal({ service: stopFirst, tasks: [gtask('n1'), gtask('n2')], nodes: [mockNode('n1'), mockNode('n2')], nowMs: T0 });
    expect(sf.update.map((u) => u.taskId)).toEqual(['u1-n1-0']);
    expect(sf.create.map((t) => t.id)).toEqual(['u1-n1-1']);
  });

  it('deleting: stops everything, then removes the records and the service', () => {
    const deleting = { ...svc(), deleting: true };
    const p1 = planGlobal({ service: deleting, tasks: [gtask('n1')], nodes: [mockNode('n1')], nowMs: T0 });
    expect(p1.update.map((u) => u.desiredState)).toEqual(['shutdown']);
    expect(p1.deleteService).toBe(false);
    const p2 = planGlobal({
      service: deleting,
      tasks: [gtask('n1', { desiredState: 'shutdown', state: 'shutdown' })],
      nodes: [mockNode('n1')],
      nowMs: T0,
    });
    expect(p2.deleteService).toBe(true);
    expect(p2.delete).toEqual(['u1-n1-0']);
  });

  it('property: after converging, every eligible node has exactly one live task and no other node has one', () => {
    const nodeArb = fc.record({
      state: fc.constantFrom<NodeState>('ready', 'ready', 'unknown', 'down'),
      availability: fc.constantFrom<NodeAvailability>('active', 'active', 'pause', 'drain'),
      zone: fc.constantFrom('a', 'b'),
      hasTask: fc.boolean(),
      taskState: fc.constantFrom('running', 'failed', 'assigned'),
    });
    fc.assert(
      fc.property(fc.array(nodeArb, { maxLength: 8 }), fc.boolean(), (shapes, constrained) => {
        const s = svc(constrained ? { constraints: ['node.labels.zone == a'] } : undefined);
        const nodes = shapes.map((x, i) => labelled(`n${i}`, { zone: x.zone }, { state: x.state, availability: x.availability }));
        let tasks: TaskRecord[] = shapes.flatMap((x, i) =>
          x.hasTask ? [gtask(`n${i}`, { state: x.taskState as TaskRecord['status']['state'], spec: s.spec })] : [],
        );
        let now = T0 + 10_000;
        // Apply plans until nothing changes (bounded), the way the shell would.
        for (let round = 0; round < 5; round++) {
          const plan = planGlobal({ service: s, tasks, nodes, nowMs: now });
          const byId = new Map(tasks.map((t) => [t.id, t]));
          for (const u of plan.update)
            byId.set(u.taskId, { ...byId.get(u.taskId)!, desiredState: u.desiredState, ...(u.status ? { status: u.status } : {}) });
          for (const id of plan.delete) byId.delete(id);
          for (const t of plan.create) byId.set(t.id, t);
          tasks = [...byId.values()];
          now += 2_000;
          if (plan.create.length + plan.update.length + plan.delete.length === 0) break;
        }
        const eligible = new Set(eligibleNodes(s, nodes).map((n) => n.id));
        const live = tasks.filter((t) => t.desiredState === 'running');
        const perNode = new Map<string, number>();
        for (const t of live) perNode.set(t.targetNodeId!, (perNode.get(t.targetNodeId!) ?? 0) + 1);
        for (const id of eligible) expect(perNode.get(id)).toBe(1);
        for (const [id, n] of perNode) {
          expect(n).toBe(1);
          // A live task off the eligible set only where the node keeps it (paused or unknown).
          if (!eligible.has(id)) {
            const nd = nodes.find((x) => x.id === id)!;
            expect(nd.state === 'unknown' || nd.availability === 'pause').toBe(true);
          }
        }
      }),
    );
  });
});

describe('rollout progress of a global service', () => {
  it('counts nodes as replicas', () => {
    const s = svc();
    expect(rolloutProgress(s, [gtask('n1'), gtask('n2'), gtask('n3', { state: 'starting' })])).toEqual({
      replicas: 3,
      updated: 2,
      ready: 2,
      outdated: 0,
    });
  });
});
