// Start-first moves: drain (replicated planner handover), opt-in rebalancing, and host ports
// found busy outside Berth.
import { describe, expect, it } from 'vitest';
import { HANDOVER_TIMEOUT_MS, planReplicated } from '../../controller/src/orchestrator/replicated-plan.js';
import { taskId } from '../../controller/src/model/task-identity.js';
import { planRebalance as planWith } from '../../controller/src/orchestrator/rebalance-plan.js';
import { buildNodes } from '../../controller/src/scheduler/snapshot.js';
import { wouldPlace } from '../../controller/src/scheduler/scheduler.js';
import type { SchedNode } from '../../controller/src/scheduler/types.js';
import { PORT_HOLD_MAX_MS, PORT_HOLD_MS, holdPort, portConflictOf } from '../../controller/src/nodes/ports.js';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../proto/src/model.js';
import { T0, mockNode, mockService, mockTask } from './fixtures.js';

/** The planner asking the real scheduler, as manager.ts wires it. */
const planRebalance = (input: { nodes: readonly SchedNode[]; service: ServiceRecord; tasks: readonly TaskRecord[]; seed: number }) =>
  planWith({ ...input, place: wouldPlace });

const nodes = (...ns: NodeRecord[]) => new Map(ns.map((n) => [n.id, n]));

describe('drain: start-first handover', () => {
  const svc = mockService({ replicas: 2 });
  const onN1 = mockTask(svc, { slot: 1, nodeId: 'n1' });
  const onN2 = mockTask(svc, { slot: 2, nodeId: 'n2' });
  const draining = nodes(mockNode('n1', { availability: 'drain' }), mockNode('n2'), mockNode('n3'));

  it('a task on a draining node gets a successor in its slot; the old one keeps running', () => {
    const plan = planReplicated({ service: svc, tasks: [onN1, onN2], nodes: draining, nowMs: T0 });
    expect(plan.update).toEqual([]);
    expect(plan.create.map((t) => [t.id, t.slot, t.handoverFrom, t.nodeId])).toEqual([[taskId('u1', 1, 1), 1, onN1.id, '']]);
  });

  it("stop-first when the service's update order says so: the old task stops, the slot is refilled at once", () => {
    const stopFirst = { ...svc, spec: { ...svc.spec, update: { ...svc.spec.update, order: 'stop-first' as const, maxUnavailable: 1 } } };
    const plan = planReplicated({ service: stopFirst, tasks: [onN1, onN2], nodes: draining, nowMs: T0 });
    expect(plan.update).toEqual([{ taskId: onN1.id, desiredState: 'shutdown' }]);
    expect(plan.create.map((t) => [t.slot, t.handoverFrom])).toEqual([[1, undefined]]);
  });

  it('while the successor starts the old task stays; once it runs the old one is stopped', () => {
    const next = { ...mockTask(svc, { slot: 1, instance: 1, nodeId: 'n3', state: 'starting' }), handoverFrom: onN1.id, createdAtMs: T0 };
    const waiting = planReplicated({ service: svc, tasks: [onN1, next, onN2], nodes: draining, nowMs: T0 + 1000 });
    expect(waiting.update).toEqual([]);
    expect(waiting.create).toEqual([]);
    expect(waiting.requeueAfterMs).toBe(HANDOVER_TIMEOUT_MS - 1000);
    const running = { ...next, status: { ...next.status, state: 'running' as const } };
    const done = planReplicated({ service: svc, tasks: [onN1, running, onN2], nodes: draining, nowMs: T0 + 2000 });
    expect(done.update).toEqual([{ taskId: onN1.id, desiredState: 'shutdown' }]);
  });

  it('a successor that cannot be placed in time: the drain stops the old task anyway', () => {
    const stuck = { ...mockTask(svc, { slot: 1, instance: 1, nodeId: '', state: 'pending' }), handoverFrom: onN1.id, createdAtMs: T0 };
    const plan = planReplicated({ service: svc, tasks: [onN1, stuck, onN2], nodes: draining, nowMs: T0 + HANDOVER_TIMEOUT_MS });
    expect(plan.update).toEqual([{ taskId: onN1.id, desiredState: 'shutdown' }]);
    expect(plan.create).toEqual([]);
  });

  it('a successor that failed is replaced, still handing over from the old task', () => {
    const failed = {
      ...mockTask(svc, { slot: 1, instance: 1, nodeId: 'n3', state: 'failed', timestampMs: T0 }),
      handoverFrom: onN1.id,
      createdAtMs: T0,
    };
    const plan = planReplicated({ service: svc, tasks: [onN1, failed, onN2], nodes: draining, nowMs: T0 + 5000 });
    expect(plan.update).toEqual([{ taskId: failed.id, desiredState: 'shutdown' }]);
    expect(plan.create.map((t) => [t.id, t.handoverFrom])).toEqual([[taskId('u1', 1, 2), onN1.id]]);
  });

  it('a rebalance move (old node not draining) that does not run in time is given up: the new task stops', () => {
    const active = nodes(mockNode('n1'), mockNode('n2'), mockNode('n3'));
    const stuck = { ...mockTask(svc, { slot: 1, instance: 1, nodeId: '', state: 'pending' }), handoverFrom: onN1.id, createdAtMs: T0 };
    const plan = planReplicated({ service: svc, tasks: [onN1, stuck, onN2], nodes: active, nowMs: T0 + HANDOVER_TIMEOUT_MS });
    expect(plan.update).toEqual([{ taskId: stuck.id, desiredState: 'shutdown' }]);
  });
});

describe('rebalance planner', () => {
  const spec = { placement: { strategy: 'spread', rebalance: { maxMoving: 1 } } };
  const svc = mockService({ replicas: 4, spec });
  const four = (placement: string[]): TaskRecord[] => placement.map((n, i) => mockTask(svc, { slot: i + 1, nodeId: n }));
  const snapshot = (ns: NodeRecord[], ts: TaskRecord[]) =>
    buildNodes(
      ns,
      ts.map((t) => ({ task: t, nodeId: t.nodeId })),
      T0,
    );

  it('moves a replica from the fullest node to a node that joined, within maxMoving', () => {
    const ns = [mockNode('n1'), mockNode('n2'), mockNode('n3')];
    const ts = four(['n1', 'n1', 'n2', 'n2']);
    const moves = planRebalance({ nodes: snapshot(ns, ts), service: svc, tasks: ts, seed: 0 });
    expect(moves).toHaveLength(1);
    expect(moves[0]!.toNode).toBe('n3');
    expect(['n1', 'n2']).toContain(moves[0]!.fromNode);
    const two = { ...svc, spec: { ...svc.spec, placement: { strategy: 'spread', rebalance: { maxMoving: 2 } } } };
    const ns4 = [...ns, mockNode('n4')];
    expect(
      planRebalance({ nodes: snapshot(ns4, ts), service: two, tasks: ts, seed: 0 })
        .map((m) => m.toNode)
        .sort(),
    ).toEqual(['n3', 'n4']);
  });

  it('stops when balanced (no oscillation), and never without opt-in or while anything is in flight', () => {
    const ns = [mockNode('n1'), mockNode('n2'), mockNode('n3')];
    const balanced = four(['n1', 'n1', 'n2', 'n3']);
    expect(planRebalance({ nodes: snapshot(ns, balanced), service: svc, tasks: balanced, seed: 0 })).toEqual([]);
    const lopsided = four(['n1', 'n1', 'n1', 'n2']);
    expect(planRebalance({ nodes: snapshot(ns, lopsided), service: mockService({ replicas: 4 }), tasks: lopsided, seed: 0 })).toEqual([]);
    const starting = lopsided.map((t, i) => (i === 0 ? { ...t, status: { ...t.status, state: 'starting' as const } } : t));
    expect(planRebalance({ nodes: snapshot(ns, starting), service: svc, tasks: starting, seed: 0 })).toEqual([]);
    const withMove = [
      ...lopsided,
      { ...mockTask(svc, { slot: 1, instance: 1, nodeId: '', state: 'pending' }), handoverFrom: lopsided[0]!.id },
    ];
    expect(planRebalance({ nodes: snapshot(ns, withMove), service: svc, tasks: withMove, seed: 0 })).toEqual([]);
  });

  it('moves only onto nodes the scheduler would pick: constraints and capacity hold', () => {
    const small = { ...mockNode('n3', { memoryBytes: 1 }) };
    const ns = [mockNode('n1'), mockNode('n2'), small];
    const withMem = mockService({ replicas: 4, spec: { ...spec, resources: { cpu: 0, memory: 64 * 2 ** 20 } } });
    const ts = ['n1', 'n1', 'n2', 'n2'].map((n, i) => mockTask(withMem, { slot: i + 1, nodeId: n }));
    expect(planRebalance({ nodes: snapshot(ns, ts), service: withMem, tasks: ts, seed: 0 })).toEqual([]);
  });

  it('converges: applying moves repeatedly reaches an even spread and then proposes nothing', () => {
    const ns = ['n1', 'n2', 'n3', 'n4'].map((n) => mockNode(n));
    const big = mockService({ replicas: 8, spec });
    let ts = Array.from({ length: 8 }, (_, i) => mockTask(big, { slot: i + 1, nodeId: i < 6 ? 'n1' : 'n2' }));
    for (let round = 0; round < 20; round++) {
      const moves = planRebalance({ nodes: snapshot(ns, ts), service: big, tasks: ts, seed: round });
      if (moves.length === 0) break;
      ts = ts.map((t) => (t.id === moves[0]!.task.id ? { ...t, nodeId: moves[0]!.toNode } : t));
    }
    const counts = ns.map((n) => ts.filter((t) => t.nodeId === n.id).length);
    expect(counts).toEqual([2, 2, 2, 2]);
  });
});

describe('host ports held outside Berth', () => {
  const svc = mockService({
    spec: {
      ports: [
        { containerPort: 8080, hostPort: 18080, protocol: 'tcp' },
        { containerPort: 53, hostPort: 5353, protocol: 'udp' },
      ],
    },
  });
  const failed = (err: string): TaskRecord => mockTask(svc, { state: 'failed', status: { err, message: `start failed: ${err}` } });

  it('reads the port from the engine errors of every kind', () => {
    expect(
      portConflictOf(
        failed(
          'driver failed programming external connectivity on endpoint x (abc): Error starting userland proxy: listen tcp4 127.0.0.5:18080: bind: address already in use',
        ),
      ),
    ).toEqual({ protocol: 'tcp', port: 18080, hostIp: '' });
    expect(portConflictOf(failed('Bind for 0.0.0.0:5353 failed: port is already allocated'))).toEqual({
      protocol: 'udp',
      port: 5353,
      hostIp: '',
    });
    expect(portConflictOf(failed('failed to bind host port for 0.0.0.0:18080:172.17.0.2:8080/tcp: address already in use'))).toEqual({
      protocol: 'tcp',
      port: 18080,
      hostIp: '',
    });
    expect(portConflictOf(failed('exit code 1'))).toBeUndefined();
    expect(
      portConflictOf(mockTask(svc, { state: 'running', status: { message: 'listen tcp4 1.2.3.4:1: bind: address already in use' } })),
    ).toBeUndefined();
  });

  it('holds the port, doubling with each repeated failure, capped; expired holds are dropped', () => {
    const p = { protocol: 'tcp', port: 18080, hostIp: '' };
    const first = holdPort({}, p, T0);
    expect(first).toEqual([{ ...p, untilMs: T0 + PORT_HOLD_MS, failures: 1 }]);
    const second = holdPort({ unavailablePorts: first }, p, T0 + PORT_HOLD_MS);
    expect(second).toEqual([{ ...p, untilMs: T0 + 3 * PORT_HOLD_MS, failures: 2 }]);
    let many = second;
    for (let i = 0; i < 10; i++) many = holdPort({ unavailablePorts: many }, p, T0);
    expect(many[0]!.untilMs - T0).toBe(PORT_HOLD_MAX_MS);
    const other = holdPort({ unavailablePorts: [{ ...p, port: 1, untilMs: T0 - PORT_HOLD_MAX_MS - 1, failures: 3 }] }, p, T0);
    expect(other.map((u) => u.port)).toEqual([18080]);
  });

  it('the snapshot turns active holds into ports in use by someone else', () => {
    const node = {
      ...mockNode('n1'),
      unavailablePorts: [
        { protocol: 'tcp', port: 18080, hostIp: '', untilMs: T0 + 1, failures: 1 },
        { protocol: 'tcp', port: 9, hostIp: '', untilMs: T0, failures: 1 },
      ],
    };
    expect(buildNodes([node], [], T0)[0]!.ports).toEqual([{ protocol: 'tcp', port: 18080, hostIp: '', owner: '' }]);
  });
});
