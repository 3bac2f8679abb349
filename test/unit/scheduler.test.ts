import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { schedule, tieHash, type PendingTask, type Plan, type SchedNode, type Snapshot } from '../../controller/src/scheduler/scheduler.js';
import type { NodeAvailability, NodeState } from '../../proto/src/types.js';
import { GiB, MiB, configureProperties } from './fixtures.js';

configureProperties();

interface NodeOpts {
  cpuMilli?: number;
  memoryBytes?: number;
  allocCpu?: number;
  allocMem?: number;
  state?: NodeState;
  availability?: NodeAvailability;
  tasks?: Record<string, number>;
}

function node(id: string, o: NodeOpts = {}): SchedNode {
  const tasks = new Map(Object.entries(o.tasks ?? {}));
  return {
    id,
    state: o.state ?? 'ready',
    availability: o.availability ?? 'active',
    capacity: { cpuMilli: o.cpuMilli ?? 4000, memoryBytes: o.memoryBytes ?? 4 * GiB },
    allocated: { cpuMilli: o.allocCpu ?? 0, memoryBytes: o.allocMem ?? 0 },
    tasksByService: tasks,
    totalTasks: [...tasks.values()].reduce((a, b) => a + b, 0),
  };
}

function tasks(n: number, o: { service?: string; cpuMilli?: number; memoryBytes?: number; prefix?: string } = {}): PendingTask[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${o.prefix ?? 't'}${String(i).padStart(3, '0')}`,
    serviceKey: o.service ?? 'default/web',
    resources: { cpuMilli: o.cpuMilli ?? 0, memoryBytes: o.memoryBytes ?? 0 },
  }));
}

const snap = (...nodes: SchedNode[]): Snapshot => ({ nodes });

function countByNode(p: Plan): Map<string, number> {
  const m = new Map<string, number>();
  for (const a of p.assignments) m.set(a.nodeId, (m.get(a.nodeId) ?? 0) + 1);
  return m;
}

describe('schedule', () => {
  it('spreads one service evenly: 4 tasks on 2 equal nodes → 2 and 2', () => {
    const p = schedule(snap(node('a'), node('b')), tasks(4), 1);
    expect(p.unplaced).toEqual([]);
    expect(Object.fromEntries(countByNode(p))).toEqual({ a: 2, b: 2 });
  });

  it('spreads against tasks of the service already running', () => {
    const p = schedule(snap(node('a', { tasks: { 'default/web': 3 } }), node('b')), tasks(3), 7);
    expect(Object.fromEntries(countByNode(p))).toEqual({ b: 3 });
  });

  it('prefers fewer tasks of this service over fewer tasks overall', () => {
    const p = schedule(snap(node('a', { tasks: { 'default/other': 5 } }), node('b', { tasks: { 'default/web': 1 } })), tasks(1), 0);
    expect(p.assignments).toEqual([{ taskId: 't000', nodeId: 'a' }]);
  });

  it('then prefers the less loaded node', () => {
    const snapshot = snap(node('a', { allocMem: 2 * GiB }), node('b', { allocMem: 1 * GiB }));
    for (const seed of [0, 1, 2, 3, 99]) expect(schedule(snapshot, tasks(1), seed).assignments).toEqual([{ taskId: 't000', nodeId: 'b' }]);
  });

  it('respects cpu capacity', () => {
    const p = schedule(snap(node('a', { cpuMilli: 1000 })), tasks(3, { cpuMilli: 400 }), 0);
    expect(p.assignments.map((a) => a.taskId)).toEqual(['t000', 't001']);
    expect(p.unplaced).toEqual([{ taskId: 't002', reason: '1 node: cpu short by 0.2' }]);
  });

  it('respects memory capacity, counting what is already allocated', () => {
    const p = schedule(snap(node('a', { memoryBytes: 1 * GiB, allocMem: 900 * MiB })), tasks(1, { memoryBytes: 200 * MiB }), 0);
    expect(p.assignments).toEqual([]);
    expect(p.unplaced).toEqual([{ taskId: 't000', reason: '1 node: memory short by 76Mi' }]);
  });

  it('a task that fits exactly is placed', () => {
    const p = schedule(
      snap(node('a', { cpuMilli: 1000, memoryBytes: 512 * MiB, allocCpu: 500, allocMem: 256 * MiB })),
      tasks(1, { cpuMilli: 500, memoryBytes: 256 * MiB }),
      0,
    );
    expect(p.assignments).toEqual([{ taskId: 't000', nodeId: 'a' }]);
  });

  it('books each placement at once: one pass never double-books a node', () => {
    const p = schedule(
      snap(node('a', { memoryBytes: 1 * GiB }), node('b', { memoryBytes: 1 * GiB })),
      tasks(5, { memoryBytes: 512 * MiB }),
      3,
    );
    expect(Object.fromEntries(countByNode(p))).toEqual({ a: 2, b: 2 });
    expect(p.unplaced).toEqual([{ taskId: 't004', reason: '2 nodes: memory short by 512Mi' }]);
  });

  it('skips nodes that are not ready, paused or drained', () => {
    const snapshot = snap(
      node('a', { state: 'unknown' }),
      node('b', { state: 'down' }),
      node('c', { availability: 'pause' }),
      node('d', { availability: 'drain' }),
      node('e', { tasks: { 'default/web': 10 } }),
    );
    const p = schedule(snapshot, tasks(3), 5);
    expect(p.assignments.map((a) => a.nodeId)).toEqual(['e', 'e', 'e']);
  });

  it('explains unplaced tasks per reason, most common first, with exact text', () => {
    const snapshot = snap(
      node('a', { memoryBytes: 1 * GiB, allocMem: 1 * GiB }),
      node('b', { memoryBytes: 1 * GiB, allocMem: 1 * GiB }),
      node('c', { state: 'unknown' }),
    );
    const p = schedule(snapshot, tasks(1, { memoryBytes: 200 * MiB }), 0);
    expect(p.assignments).toEqual([]);
    expect(p.unplaced).toEqual([{ taskId: 't000', reason: '2 nodes: memory short by 200Mi; 1 node: node unknown' }]);
  });

  it('shows the smallest shortfall of a group', () => {
    const snapshot = snap(
      node('a', { memoryBytes: 1 * GiB, allocMem: 1 * GiB }),
      node('b', { memoryBytes: 1 * GiB, allocMem: 1 * GiB - 50 * MiB }),
    );
    expect(schedule(snapshot, tasks(1, { memoryBytes: 200 * MiB }), 0).unplaced[0]!.reason).toBe('2 nodes: memory short by 150Mi');
  });

  it('names each availability and state, the state first', () => {
    const snapshot = snap(
      node('a', { availability: 'pause' }),
      node('b', { availability: 'drain' }),
      node('c', { state: 'down', availability: 'drain' }),
      node('d', { cpuMilli: 100 }),
    );
    const p = schedule(snapshot, tasks(1, { cpuMilli: 1500 }), 0);
    expect(p.unplaced).toEqual([
      { taskId: 't000', reason: '1 node: availability pause; 1 node: availability drain; 1 node: node down; 1 node: cpu short by 1.4' },
    ]);
  });

  it('says so when the cluster has no nodes', () => {
    expect(schedule(snap(), tasks(2), 0).unplaced).toEqual([
      { taskId: 't000', reason: 'no nodes in the cluster' },
      { taskId: 't001', reason: 'no nodes in the cluster' },
    ]);
  });

  it('is deterministic: same input and seed give the same plan, whatever the input order', () => {
    const nodes = [node('a'), node('b'), node('c', { allocCpu: 100 })];
    const pending = [...tasks(5, { service: 'ns/x', cpuMilli: 100 }), ...tasks(4, { service: 'ns/y', prefix: 'y', memoryBytes: 64 * MiB })];
    const p1 = schedule(snap(...nodes), pending, 42);
    const p2 = schedule(snap(...[...nodes].reverse()), [...pending].reverse(), 42);
    expect(p2).toEqual(p1);
    expect(schedule(snap(...nodes), pending, 42)).toEqual(p1);
  });

  it('different seeds only change tie-breaks', () => {
    // Two identical empty nodes and one task: a pure tie, each seed picks by hash.
    const picks = new Set<string>();
    for (let seed = 0; seed < 32; seed++) {
      const p = schedule(snap(node('a'), node('b')), tasks(1), seed);
      const a = tieHash(seed, 'a');
      const b = tieHash(seed, 'b');
      expect(p.assignments[0]!.nodeId).toBe(a < b ? 'a' : 'b');
      picks.add(p.assignments[0]!.nodeId);
    }
    expect(picks).toEqual(new Set(['a', 'b'])); // the seed does matter for ties
    // No tie: every seed gives the same plan.
    const uneven = snap(
      node('a', { tasks: { 'default/web': 1, 'default/other': 1 } }),
      node('b'),
      node('c', { tasks: { 'default/web': 2 } }),
    );
    const base = schedule(uneven, tasks(3), 0);
    for (let seed = 1; seed < 16; seed++) expect(schedule(uneven, tasks(3), seed)).toEqual(base);
  });

  it('tieHash is a stable 32-bit FNV-1a', () => {
    expect(tieHash(0, '')).toBe(0x811c9dc5);
    expect(tieHash(0, 'a')).toBe(0xe40c292c); // FNV-1a("a")
    expect(tieHash(1, 'node')).toBe(tieHash(1, 'node'));
    expect(tieHash(1, 'node')).not.toBe(tieHash(2, 'node'));
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const nodeArb = (id: string): fc.Arbitrary<SchedNode> =>
  fc
    .record({
      cpuMilli: fc.integer({ min: 0, max: 8000 }),
      memoryBytes: fc.integer({ min: 0, max: 16 }).map((g) => g * 256 * MiB),
      allocCpuFrac: fc.double({ min: 0, max: 1, noNaN: true }),
      allocMemFrac: fc.double({ min: 0, max: 1, noNaN: true }),
      state: fc.constantFrom<NodeState>('ready', 'ready', 'ready', 'unknown', 'down'),
      availability: fc.constantFrom<NodeAvailability>('active', 'active', 'active', 'pause', 'drain'),
      web: fc.integer({ min: 0, max: 4 }),
      other: fc.integer({ min: 0, max: 4 }),
    })
    .map((r) =>
      node(id, {
        cpuMilli: r.cpuMilli,
        memoryBytes: r.memoryBytes,
        allocCpu: Math.floor(r.cpuMilli * r.allocCpuFrac),
        allocMem: Math.floor(r.memoryBytes * r.allocMemFrac),
        state: r.state,
        availability: r.availability,
        tasks: { 'ns/web': r.web, 'ns/other': r.other },
      }),
    );

const clusterArb = fc.integer({ min: 0, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => nodeArb(`node-${i}`))));

const pendingArb = fc.uniqueArray(
  fc.record({
    id: fc.stringMatching(/^[a-z0-9]{1,8}$/),
    serviceKey: fc.constantFrom('ns/web', 'ns/other', 'ns/db'),
    resources: fc.record({
      cpuMilli: fc.integer({ min: 0, max: 3000 }),
      memoryBytes: fc.integer({ min: 0, max: 8 }).map((x) => x * 128 * MiB),
    }),
  }),
  { maxLength: 30, selector: (t) => t.id },
);

describe('schedule properties', () => {
  it('never allocates beyond capacity and places only on ready, active nodes', () => {
    fc.assert(
      fc.property(clusterArb, pendingArb, fc.integer(), (nodes, pending, seed) => {
        const p = schedule({ nodes }, pending, seed);
        const byId = new Map(nodes.map((n) => [n.id, n]));
        const res = new Map(pending.map((t) => [t.id, t.resources]));
        const used = new Map(nodes.map((n) => [n.id, { ...n.allocated }]));
        for (const a of p.assignments) {
          const n = byId.get(a.nodeId)!;
          expect(n.state).toBe('ready');
          expect(n.availability).toBe('active');
          const u = used.get(a.nodeId)!;
          u.cpuMilli += res.get(a.taskId)!.cpuMilli;
          u.memoryBytes += res.get(a.taskId)!.memoryBytes;
        }
        for (const n of nodes) {
          expect(used.get(n.id)!.cpuMilli).toBeLessThanOrEqual(n.capacity.cpuMilli);
          expect(used.get(n.id)!.memoryBytes).toBeLessThanOrEqual(n.capacity.memoryBytes);
        }
        // Every task is either placed once or explained once.
        const seen = [...p.assignments.map((a) => a.taskId), ...p.unplaced.map((u) => u.taskId)].sort();
        expect(seen).toEqual(pending.map((t) => t.id).sort());
        for (const u of p.unplaced) expect(u.reason).toMatch(/^(no nodes in the cluster|\d+ nodes?: .+)$/);
      }),
    );
  });

  it('spreads one service on identical empty nodes within one task per node', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 40 }), fc.integer(), (n, count, seed) => {
        const nodes = Array.from({ length: n }, (_, i) => node(`n${i}`));
        const p = schedule({ nodes }, tasks(count, { cpuMilli: 10, memoryBytes: MiB }), seed);
        expect(p.unplaced).toEqual([]);
        const counts = nodes.map((x) => countByNode(p).get(x.id) ?? 0);
        expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('is deterministic whatever the order of nodes and tasks', () => {
    fc.assert(
      fc.property(clusterArb, pendingArb, fc.integer(), (nodes, pending, seed) => {
        const p = schedule({ nodes }, pending, seed);
        expect(schedule({ nodes: [...nodes].reverse() }, [...pending].reverse(), seed)).toEqual(p);
        expect(schedule({ nodes }, pending, seed)).toEqual(p);
      }),
    );
  });

  it('a different seed only permutes equal nodes: same tasks placed, same per-node counts, same reasons', () => {
    const sameNodes = fc.array(
      fc.record({
        state: fc.constantFrom<NodeState>('ready', 'ready', 'unknown'),
        availability: fc.constantFrom<NodeAvailability>('active', 'active', 'drain'),
      }),
      { maxLength: 6 },
    );
    fc.assert(
      fc.property(
        sameNodes,
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 1500 }),
        fc.integer(),
        fc.integer(),
        (shapes, count, cpu, s1, s2) => {
          const nodes = shapes.map((x, i) => node(`m${i}`, { cpuMilli: 4000, memoryBytes: 4 * GiB, ...x }));
          const pending = tasks(count, { cpuMilli: cpu, memoryBytes: 64 * MiB });
          const a = schedule({ nodes }, pending, s1);
          const b = schedule({ nodes }, pending, s2);
          expect(b.unplaced).toEqual(a.unplaced);
          expect(b.assignments.map((x) => x.taskId)).toEqual(a.assignments.map((x) => x.taskId));
          const sorted = (pl: Plan): number[] => [...countByNode(pl).values()].sort((x, y) => x - y);
          expect(sorted(b)).toEqual(sorted(a));
        },
      ),
    );
  });
});
