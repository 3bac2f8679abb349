// The scheduler shell's incremental snapshot (SnapshotBuilder): over random sequences of node and
// task changes, assumptions and time passing, build() equals buildNodes() over the current
// records from scratch, and a node it returned is never changed afterwards.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NodeRecord, TaskRecord } from '../../proto/src/model.js';
import type { TaskState } from '../../proto/src/types.js';
import { SnapshotBuilder, buildNodes } from '../../controller/src/scheduler/snapshot.js';
import type { SchedNode } from '../../controller/src/scheduler/types.js';
import { T0, mockNode, mockService, mockTask } from './fixtures.js';

const NODE_IDS = ['n1', 'n2', 'n3', 'n4'];
const STATES: TaskState[] = ['pending', 'assigned', 'running', 'failed', 'shutdown', 'complete'];
const SERVICES = ['web', 'db', 'cache'];

type Op =
  | { kind: 'node'; id: string; labelled: boolean; availability: 'active' | 'drain'; held: Array<{ port: number; inMs: number }> }
  | { kind: 'dropNode'; id: string }
  | {
      kind: 'task';
      slot: number;
      service: number;
      nodeId: string;
      state: TaskState;
      running: boolean;
      memory: number;
      hostPort: number | undefined;
    }
  | { kind: 'dropTask'; slot: number; service: number }
  | { kind: 'assume'; slot: number; service: number; nodeId: string | undefined }
  | { kind: 'time'; ms: number };

const node = fc.constantFrom(...NODE_IDS);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('node' as const),
    id: node,
    labelled: fc.boolean(),
    availability: fc.constantFrom('active' as const, 'drain' as const),
    held: fc.array(fc.record({ port: fc.constantFrom(80, 443), inMs: fc.integer({ min: -5_000, max: 5_000 }) }), { maxLength: 2 }),
  }),
  fc.record({ kind: fc.constant('dropNode' as const), id: node }),
  fc.record({
    kind: fc.constant('task' as const),
    slot: fc.integer({ min: 1, max: 6 }),
    service: fc.integer({ min: 0, max: 2 }),
    nodeId: fc.constantFrom('', 'n5', ...NODE_IDS),
    state: fc.constantFrom(...STATES),
    running: fc.boolean(),
    memory: fc.integer({ min: 0, max: 4 }),
    hostPort: fc.option(fc.constantFrom(80, 8080), { nil: undefined }),
  }),
  fc.record({ kind: fc.constant('dropTask' as const), slot: fc.integer({ min: 1, max: 6 }), service: fc.integer({ min: 0, max: 2 }) }),
  fc.record({
    kind: fc.constant('assume' as const),
    slot: fc.integer({ min: 1, max: 6 }),
    service: fc.integer({ min: 0, max: 2 }),
    nodeId: fc.option(node, { nil: undefined }),
  }),
  fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 0, max: 3_000 }) }),
);

/** A deep, Map-free copy, to see later whether a returned node changed. */
const frozen = (ns: readonly SchedNode[]): unknown =>
  JSON.parse(JSON.stringify(ns, (_k, v: unknown) => (v instanceof Map ? [...v.entries()] : v)));

describe('incremental scheduler snapshot', () => {
  it('equals a from-scratch build after any sequence of changes, and never changes what it returned', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), fc.array(fc.nat(), { maxLength: 60 }), (ops, buildAt) => {
        const b = new SnapshotBuilder();
        const nodes = new Map<string, { value: NodeRecord; modRevision: number }>();
        const tasks = new Map<string, { value: TaskRecord; modRevision: number }>();
        const assumed = new Map<string, string>();
        let rev = 0;
        let now = T0;
        const returned: Array<{ nodes: readonly SchedNode[]; copy: unknown }> = [];
        const effective = (t: TaskRecord): string => (t.nodeId !== '' ? t.nodeId : (assumed.get(t.id) ?? ''));
        const report = (id: string): void => {
          const t = tasks.get(id);
          b.setTask(id, t, t ? effective(t.value) : '');
        };
        const builds = new Set(buildAt.map((i) => i % ops.length));
        ops.forEach((o, i) => {
          switch (o.kind) {
            case 'node': {
              const n = mockNode(o.id, { availability: o.availability });
              const value: NodeRecord = {
                ...n,
                labels: o.labelled ? { zone: `z-${rev}` } : {},
                unavailablePorts: o.held.map((h) => ({ protocol: 'tcp', port: h.port, hostIp: '', untilMs: now + h.inMs, failures: 1 })),
              };
              nodes.set(o.id, { value, modRevision: ++rev });
              b.setNode(o.id, nodes.get(o.id));
              break;
            }
            case 'dropNode':
              nodes.delete(o.id);
              b.setNode(o.id, undefined);
              break;
            case 'task': {
              const svc = mockService({
                name: SERVICES[o.service]!,
                uid: `u${o.service}`,
                spec: {
                  resources: { cpu: 100, memory: o.memory },
                  ...(o.hostPort ? { ports: [{ containerPort: 80, hostPort: o.hostPort, protocol: 'tcp' }] } : {}),
                },
              });
              const t = mockTask(svc, { slot: o.slot, nodeId: o.nodeId, state: o.state, desiredState: o.running ? 'running' : 'shutdown' });
              tasks.set(t.id, { value: t, modRevision: ++rev });
              report(t.id);
              break;
            }
            case 'dropTask':
            case 'assume': {
              const id = [...tasks.keys()].find(
                (k) => tasks.get(k)!.value.slot === o.slot && tasks.get(k)!.value.serviceUid === `u${o.service}`,
              );
              if (!id) break;
              if (o.kind === 'dropTask') {
                tasks.delete(id);
                assumed.delete(id);
              } else if (o.nodeId === undefined) assumed.delete(id);
              else assumed.set(id, o.nodeId);
              report(id);
              break;
            }
            case 'time':
              now += o.ms;
              break;
          }
          if (!builds.has(i) && i !== ops.length - 1) return;
          const got = b.build(now);
          const placed = [...tasks.values()]
            .map((t) => ({ task: t.value, nodeId: effective(t.value) }))
            .filter((p) => p.nodeId !== '')
            .sort((x, y) => (x.task.id < y.task.id ? -1 : 1));
          const want = buildNodes(
            [...nodes.values()].map((n) => n.value),
            placed,
            now,
          ).sort((x, y) => (x.id < y.id ? -1 : 1));
          expect(got).toEqual(want);
          returned.push({ nodes: got, copy: frozen(got) });
        });
        for (const r of returned) expect(frozen(r.nodes)).toEqual(r.copy);
      }),
      { numRuns: 300 },
    );
  });

  it('returns the same node objects while nothing about them changed', () => {
    const b = new SnapshotBuilder();
    b.setNode('n1', { value: mockNode('n1'), modRevision: 1 });
    b.setNode('n2', { value: mockNode('n2'), modRevision: 2 });
    const first = b.build(T0);
    const t = mockTask(mockService(), { nodeId: 'n2' });
    b.setTask(t.id, { value: t, modRevision: 3 }, 'n2');
    b.setTask(t.id, { value: t, modRevision: 3 }, 'n2'); // a repeated report changes nothing
    const second = b.build(T0 + 1);
    expect(second[0]).toBe(first[0]);
    expect(second[1]).not.toBe(first[1]);
    expect(second[1]!.totalTasks).toBe(1);
    expect(first[1]!.totalTasks).toBe(0);
  });
});
