// Placement: the manifest fields (validation with the field named) and the scheduler's filters
// and ranks (constraints, spreadBy, binpack, maxPerNode, affinity, host ports, pinned tasks,
// avoidNodes, explain), with properties over random clusters.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { schedule, type PendingTask, type Plan, type SchedNode, type TaskPlacement } from '../../controller/src/scheduler/scheduler.js';
import { parseConstraint, type Constraint } from '../../proto/src/spec/placement.js';
import { validateServiceManifest } from '../../proto/src/spec/service.js';
import { GiB, MiB, configureProperties } from './fixtures.js';

configureProperties();

function node(id: string, o: Partial<SchedNode> & { tasks?: Record<string, number> } = {}): SchedNode {
  const tasks = new Map(Object.entries(o.tasks ?? {}));
  return {
    id,
    state: 'ready',
    availability: 'active',
    capacity: { cpuMilli: 4000, memoryBytes: 4 * GiB },
    allocated: { cpuMilli: 0, memoryBytes: 0 },
    tasksByService: tasks,
    totalTasks: [...tasks.values()].reduce((a, b) => a + b, 0),
    hostname: id,
    os: 'linux',
    arch: 'amd64',
    labels: {},
    ...o,
  };
}

const c = (s: string): Constraint => {
  const r = parseConstraint(s);
  if ('error' in r) throw new Error(r.error);
  return r;
};

function tasks(n: number, o: Partial<PendingTask> & { prefix?: string } = {}): PendingTask[] {
  const { prefix, ...rest } = o;
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix ?? 't'}${String(i).padStart(3, '0')}`,
    serviceKey: 'default/web',
    resources: { cpuMilli: 0, memoryBytes: 0 },
    ...rest,
  }));
}

function perNode(p: Plan): Record<string, number> {
  const m: Record<string, number> = {};
  for (const a of p.assignments) m[a.nodeId] = (m[a.nodeId] ?? 0) + 1;
  return m;
}

const manifest = (spec: Record<string, unknown>) => ({
  apiVersion: 'berth.dev/v1',
  kind: 'Service',
  metadata: { name: 'web' },
  spec: { image: 'berth-local/busybox:1', ...spec },
});
const issues = (spec: Record<string, unknown>): string[] => {
  const v = validateServiceManifest(manifest(spec));
  return v.ok ? [] : v.issues.map((i) => `${i.path}: ${i.message}`);
};

describe('placement fields', () => {
  it('accepts a full placement and keeps it canonical', () => {
    const v = validateServiceManifest(
      manifest({
        replicas: 3,
        placement: {
          strategy: 'spread',
          constraints: ['node.labels.zone == a', 'node.hostname != h3', 'node.platform.arch == amd64'],
          spreadBy: 'node.labels.zone',
          maxPerNode: 2,
          affinity: ['db'],
          antiAffinity: ['other/batch'],
          rebalance: {},
        },
      }),
    );
    expect(v.ok).toBe(true);
    if (v.ok)
      expect(v.value.spec.placement).toEqual({
        strategy: 'spread',
        constraints: ['node.labels.zone == a', 'node.hostname != h3', 'node.platform.arch == amd64'],
        spreadBy: 'node.labels.zone',
        maxPerNode: 2,
        affinity: ['db'],
        antiAffinity: ['other/batch'],
        rebalance: { maxMoving: 1 },
      });
    expect(validateServiceManifest(manifest({ mode: 'global' })).ok).toBe(true);
  });

  it('names the field and the reason for every mistake', () => {
    expect(issues({ placement: { constraints: ['zone = a'] } })).toEqual([
      'spec.placement.constraints[0]: "zone = a" is not a constraint: write ATTRIBUTE == VALUE or ATTRIBUTE != VALUE, e.g. node.labels.zone == a',
    ]);
    expect(issues({ placement: { constraints: ['node.colour == red'] } })[0]).toMatch(
      /^spec.placement.constraints\[0\]: unknown attribute "node.colour"/,
    );
    expect(issues({ placement: { constraints: ['node.labels.zone =='] } })[0]).toMatch(/constraints\[0\]: .*the value after == is missing/);
    expect(issues({ placement: { spreadBy: 'zone' } })[0]).toMatch(/^spec.placement.spreadBy: unknown attribute "zone"/);
    expect(issues({ placement: { strategy: 'pack' } })).toEqual([
      'spec.placement.strategy: must be one of "spread", "binpack"; got "pack"',
    ]);
    expect(issues({ placement: { strategy: 'binpack', spreadBy: 'node.labels.zone' } })).toEqual([
      'spec.placement.spreadBy: spreadBy needs strategy spread (binpack fills nodes instead of spreading)',
    ]);
    expect(issues({ placement: { maxPerNode: 0 } })).toEqual(['spec.placement.maxPerNode: must be at least 1 (got 0)']);
    expect(issues({ placement: { affinity: ['Bad_Name'] } })[0]).toMatch(/^spec.placement.affinity\[0\]: "Bad_Name" is not a service/);
    expect(issues({ mode: 'daemon' })).toEqual(['spec.mode: must be one of "replicated", "global"; got "daemon"']);
    expect(issues({ mode: 'global', replicas: 3 })).toEqual([
      'spec.replicas: must not be set with mode: global (one task runs on every eligible node)',
    ]);
    expect(issues({ mode: 'global', placement: { maxPerNode: 1 } })).toEqual([
      'spec.placement.maxPerNode: does not apply to mode: global (one task per node)',
    ]);
    expect(issues({ placement: { rebalance: { maxMoving: 0 } } })).toEqual([
      'spec.placement.rebalance.maxMoving: must be at least 1 (got 0)',
    ]);
  });

  it('parses constraints: platform aliases, quotes, both operators', () => {
    expect(parseConstraint('node.platform.os==linux')).toEqual({
      attribute: 'node.os',
      op: '==',
      value: 'linux',
      text: 'node.platform.os==linux',
    });
    expect(parseConstraint(' node.labels.tier != "front end" ')).toEqual({
      attribute: 'node.labels.tier',
      op: '!=',
      value: 'front end',
      text: 'node.labels.tier != "front end"',
    });
  });
});

describe('scheduler filters and ranks', () => {
  const zones = (): SchedNode[] => [
    node('a1', { labels: { zone: 'a' } }),
    node('a2', { labels: { zone: 'a' } }),
    node('a3', { labels: { zone: 'a' } }),
    node('b1', { labels: { zone: 'b' } }),
    node('c1', { labels: { zone: 'c' } }),
  ];

  it('constraints: only matching nodes, and the reason names the constraint', () => {
    const placement: TaskPlacement = { constraints: [c('node.labels.zone == a'), c('node.hostname != a3')] };
    const p = schedule({ nodes: zones() }, tasks(3, { placement }), 1);
    const m = perNode(p);
    expect(Object.keys(m).sort()).toEqual(['a1', 'a2']);
    expect(m['a1']! + m['a2']!).toBe(3);
    const q = schedule({ nodes: zones() }, tasks(1, { placement: { constraints: [c('node.labels.zone == z')] } }), 1);
    expect(q.unplaced).toEqual([{ taskId: 't000', reason: '5 nodes: constraint node.labels.zone == z' }]);
  });

  it('a label missing on a node fails == and passes !=', () => {
    const nodes = [node('x', { labels: { zone: 'a' } }), node('y')];
    expect(perNode(schedule({ nodes }, tasks(2, { placement: { constraints: [c('node.labels.zone != a')] } }), 0))).toEqual({ y: 2 });
    expect(perNode(schedule({ nodes }, tasks(2, { placement: { constraints: [c('node.labels.zone == a')] } }), 0))).toEqual({ x: 2 });
  });

  it('spreadBy: even over zones first, whatever the number of nodes per zone', () => {
    const p = schedule({ nodes: zones() }, tasks(6, { placement: { spreadBy: 'node.labels.zone' } }), 3);
    const m = perNode(p);
    expect((m['a1'] ?? 0) + (m['a2'] ?? 0) + (m['a3'] ?? 0)).toBe(2);
    expect(m['b1']).toBe(2);
    expect(m['c1']).toBe(2);
    // Without spreadBy: even over nodes.
    expect(Object.values(perNode(schedule({ nodes: zones() }, tasks(5), 3)))).toEqual([1, 1, 1, 1, 1]);
  });

  it('spreadBy counts what already runs in each zone', () => {
    const nodes = [
      node('a1', { labels: { zone: 'a' }, tasks: { 'default/web': 2 } }),
      node('b1', { labels: { zone: 'b' } }),
      node('b2', { labels: { zone: 'b' } }),
    ];
    expect(perNode(schedule({ nodes }, tasks(2, { placement: { spreadBy: 'node.labels.zone' } }), 0))).toEqual({ b1: 1, b2: 1 });
  });

  it('binpack: fills the most allocated node that still fits, then the next', () => {
    const nodes = [
      node('a', { allocated: { cpuMilli: 0, memoryBytes: 1 * GiB } }),
      node('b', { allocated: { cpuMilli: 0, memoryBytes: 2 * GiB } }),
      node('c'),
    ];
    const p = schedule({ nodes }, tasks(5, { placement: { strategy: 'binpack' }, resources: { cpuMilli: 0, memoryBytes: 512 * MiB } }), 9);
    expect(p.assignments.map((x) => x.nodeId)).toEqual(['b', 'b', 'b', 'b', 'a']);
  });

  it('binpack with nothing reserved packs by task count', () => {
    expect(
      perNode(
        schedule({ nodes: [node('a'), node('b', { tasks: { 'default/x': 1 } })] }, tasks(4, { placement: { strategy: 'binpack' } }), 0),
      ),
    ).toEqual({ b: 4 });
  });

  it('maxPerNode: at most that many per node, the rest explained', () => {
    const p = schedule({ nodes: [node('a'), node('b', { tasks: { 'default/web': 1 } })] }, tasks(4, { placement: { maxPerNode: 2 } }), 0);
    expect(perNode(p)).toEqual({ a: 2, b: 1 });
    expect(p.unplaced).toEqual([{ taskId: 't003', reason: '2 nodes: maxPerNode 2 reached' }]);
  });

  it('affinity follows another service, anti-affinity avoids one; placed after the services they name', () => {
    const nodes = [node('a', { tasks: { 'default/db': 1 } }), node('b'), node('c', { tasks: { 'default/batch': 1 } })];
    expect(perNode(schedule({ nodes }, tasks(2, { placement: { affinity: ['default/db'] } }), 0))).toEqual({ a: 2 });
    expect(perNode(schedule({ nodes }, tasks(2, { placement: { antiAffinity: ['default/batch'] } }), 0))).toEqual({ a: 1, b: 1 });
    const none = schedule({ nodes }, tasks(1, { placement: { affinity: ['default/cache'] } }), 0);
    expect(none.unplaced[0]!.reason).toBe('3 nodes: affinity: no task of default/cache');
    // cache is pending in the same batch: web (with affinity) goes where cache was just placed.
    const both = schedule(
      { nodes: [node('x'), node('y'), node('z')] },
      [...tasks(2, { prefix: 'w', placement: { affinity: ['default/cache'] } }), ...tasks(1, { prefix: 'c', serviceKey: 'default/cache' })],
      4,
    );
    const cacheNode = both.assignments.find((a) => a.taskId === 'c000')!.nodeId;
    expect(both.assignments.filter((a) => a.taskId.startsWith('w')).map((a) => a.nodeId)).toEqual([cacheNode, cacheNode]);
  });

  it('anti-affinity to itself allows one per node', () => {
    const p = schedule({ nodes: [node('a'), node('b')] }, tasks(3, { placement: { antiAffinity: ['default/web'] } }), 0);
    expect(perNode(p)).toEqual({ a: 1, b: 1 });
    expect(p.unplaced[0]!.reason).toBe('2 nodes: anti-affinity: runs default/web');
  });

  it('host ports: one task per node and port, across services; a port held on the host is named', () => {
    const hostPorts = [{ protocol: 'tcp', port: 8080, hostIp: '' }];
    const nodes = [
      node('a'),
      node('b', { ports: [{ protocol: 'tcp', port: 8080, hostIp: '', owner: '' }] }),
      node('c', { ports: [{ protocol: 'udp', port: 8080, hostIp: '', owner: 'default/dns' }] }),
    ];
    const p = schedule({ nodes }, tasks(3, { hostPorts }), 0);
    expect(perNode(p)).toEqual({ a: 1, c: 1 });
    expect(p.unplaced).toEqual([
      { taskId: 't002', reason: '2 nodes: port 8080/tcp taken by default/web; 1 node: port 8080/tcp in use on the host (not by Berth)' },
    ]);
    // Another service wanting the same port: the web tasks placed in this pass count too.
    const q = schedule({ nodes }, [...tasks(2, { hostPorts }), ...tasks(1, { prefix: 'z', serviceKey: 'default/zz', hostPorts })], 0);
    expect(q.unplaced).toEqual([
      { taskId: 'z000', reason: '2 nodes: port 8080/tcp taken by default/web; 1 node: port 8080/tcp in use on the host (not by Berth)' },
    ]);
  });

  it('host ports on distinct addresses of one node do not collide; a wildcard collides with every address', () => {
    const nodes = [node('a', { ports: [{ protocol: 'tcp', port: 80, hostIp: '10.0.0.1', owner: 'default/x' }] })];
    expect(schedule({ nodes }, tasks(1, { hostPorts: [{ protocol: 'tcp', port: 80, hostIp: '10.0.0.2' }] }), 0).assignments).toHaveLength(
      1,
    );
    expect(schedule({ nodes }, tasks(1, { hostPorts: [{ protocol: 'tcp', port: 80, hostIp: '' }] }), 0).assignments).toHaveLength(0);
    expect(schedule({ nodes }, tasks(1, { hostPorts: [{ protocol: 'tcp', port: 80, hostIp: '10.0.0.1' }] }), 0).assignments).toHaveLength(
      0,
    );
  });

  it('pinned tasks go to their node only, and say why not', () => {
    const nodes = [node('a'), node('b', { capacity: { cpuMilli: 1000, memoryBytes: 64 * MiB } }), node('c', { availability: 'pause' })];
    const pending = ['a', 'b', 'c', 'gone'].map((n) => ({
      id: `g-${n}`,
      serviceKey: 'default/agent',
      resources: { cpuMilli: 0, memoryBytes: 128 * MiB },
      targetNodeId: n,
    }));
    const p = schedule({ nodes }, pending, 0);
    expect(p.assignments).toEqual([{ taskId: 'g-a', nodeId: 'a' }]);
    expect(p.unplaced).toEqual([
      { taskId: 'g-b', reason: '1 node: memory short by 64Mi' },
      { taskId: 'g-c', reason: '1 node: availability pause' },
      { taskId: 'g-gone', reason: 'node gone is not in the cluster' },
    ]);
  });

  it('avoidNodes ranks those nodes last but never makes them infeasible', () => {
    const nodes = [node('a'), node('b'), node('c', { capacity: { cpuMilli: 100, memoryBytes: GiB } })];
    for (let seed = 0; seed < 8; seed++) {
      const p = schedule({ nodes }, tasks(1, { avoidNodes: ['a'] }), seed);
      expect(p.assignments[0]!.nodeId).not.toBe('a');
    }
    const only = schedule({ nodes: [node('a')] }, tasks(2, { avoidNodes: ['a'] }), 0);
    expect(perNode(only)).toEqual({ a: 2 });
    // b is avoided and c does not fit: a it is, even though b is emptier.
    const busy = [node('a', { tasks: { 'default/web': 3 } }), node('b'), node('c', { capacity: { cpuMilli: 100, memoryBytes: GiB } })];
    expect(schedule({ nodes: busy }, tasks(1, { avoidNodes: ['b'], resources: { cpuMilli: 500, memoryBytes: 0 } }), 0).assignments).toEqual(
      [{ taskId: 't000', nodeId: 'a' }],
    );
  });

  it('explain: every node that got no task says why', () => {
    const nodes = [
      node('a', { labels: { zone: 'a' } }),
      node('b', { labels: { zone: 'b' } }),
      node('c', { labels: { zone: 'a' }, state: 'down' }),
      node('d', { labels: { zone: 'a' } }),
    ];
    const p = schedule({ nodes }, tasks(1, { placement: { constraints: [c('node.labels.zone == a')] } }), 0, { explain: true });
    const placedOn = p.assignments[0]!.nodeId;
    const verdicts = Object.fromEntries(p.explain![0]!.nodes.map((v) => [v.nodeId, v.reason]));
    expect(verdicts['b']).toBe('constraint node.labels.zone == a');
    expect(verdicts['c']).toBe('node down');
    expect(verdicts[placedOn]).toBe('');
    const other = placedOn === 'a' ? 'd' : 'a';
    expect(verdicts[other]).toMatch(/^fits, ranked lower \(0 of this service, 0 tasks, 0% allocated\)$/);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over random clusters and several services with placement rules.

const ZONES = ['a', 'b', 'c'];
const nodeArb = (id: string): fc.Arbitrary<SchedNode> =>
  fc
    .record({
      cpu: fc.integer({ min: 0, max: 4000 }),
      memG: fc.integer({ min: 0, max: 8 }),
      zone: fc.option(fc.constantFrom(...ZONES), { nil: undefined }),
      state: fc.constantFrom<SchedNode['state']>('ready', 'ready', 'ready', 'unknown'),
      availability: fc.constantFrom<SchedNode['availability']>('active', 'active', 'active', 'pause'),
      busyPort: fc.boolean(),
      web: fc.integer({ min: 0, max: 3 }),
    })
    .map((r) =>
      node(id, {
        capacity: { cpuMilli: r.cpu, memoryBytes: r.memG * 512 * MiB },
        labels: r.zone ? { zone: r.zone } : {},
        state: r.state,
        availability: r.availability,
        ports: r.busyPort ? [{ protocol: 'tcp', port: 8080, hostIp: '', owner: '' }] : [],
        tasks: { 'ns/web': r.web },
      }),
    );

const clusterArb = fc.integer({ min: 0, max: 7 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => nodeArb(`n${i}`))));

interface SvcShape {
  key: string;
  count: number;
  cpu: number;
  memM: number;
  placement: TaskPlacement;
  port: boolean;
}

const svcArb = (key: string): fc.Arbitrary<SvcShape> =>
  fc
    .record({
      count: fc.integer({ min: 0, max: 12 }),
      cpu: fc.integer({ min: 0, max: 1500 }),
      memM: fc.integer({ min: 0, max: 1024 }),
      strategy: fc.constantFrom<'spread' | 'binpack'>('spread', 'binpack'),
      zone: fc.option(fc.constantFrom(...ZONES), { nil: undefined }),
      spread: fc.boolean(),
      maxPerNode: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      port: fc.boolean(),
    })
    .map((r) => ({
      key,
      count: r.count,
      cpu: r.cpu,
      memM: r.memM,
      port: r.port,
      placement: {
        strategy: r.strategy,
        ...(r.zone ? { constraints: [c(`node.labels.zone == ${r.zone}`)] } : {}),
        ...(r.spread && r.strategy === 'spread' ? { spreadBy: 'node.labels.zone' } : {}),
        ...(r.maxPerNode !== undefined ? { maxPerNode: r.maxPerNode } : {}),
      },
    }));

const pendingOf = (svcs: SvcShape[]): PendingTask[] =>
  svcs.flatMap((s) =>
    tasks(s.count, {
      prefix: `${s.key.replace('/', '-')}-`,
      serviceKey: s.key,
      resources: { cpuMilli: s.cpu, memoryBytes: s.memM * MiB },
      placement: s.placement,
      ...(s.port ? { hostPorts: [{ protocol: 'tcp', port: 8080, hostIp: '' }] } : {}),
    }),
  );

const svcsArb = fc.tuple(svcArb('ns/web'), svcArb('ns/api'), svcArb('ns/db'));

describe('placement properties', () => {
  it('capacity is never exceeded, constraints and maxPerNode always hold, host ports never collide', () => {
    fc.assert(
      fc.property(clusterArb, svcsArb, fc.integer(), (nodes, svcs, seed) => {
        const pending = pendingOf(svcs);
        const p = schedule({ nodes }, pending, seed);
        const byId = new Map(nodes.map((n) => [n.id, n]));
        const taskById = new Map(pending.map((t) => [t.id, t]));
        const used = new Map(
          nodes.map((n) => [
            n.id,
            {
              cpu: n.allocated.cpuMilli,
              mem: n.allocated.memoryBytes,
              ports: new Set((n.ports ?? []).map((x) => `${x.protocol}/${x.port}`)),
              per: new Map(n.tasksByService),
            },
          ]),
        );
        for (const a of p.assignments) {
          const n = byId.get(a.nodeId)!;
          const t = taskById.get(a.taskId)!;
          expect(n.state).toBe('ready');
          expect(n.availability).toBe('active');
          for (const con of t.placement?.constraints ?? []) expect(n.labels?.['zone']).toBe(con.value);
          const u = used.get(a.nodeId)!;
          u.cpu += t.resources.cpuMilli;
          u.mem += t.resources.memoryBytes;
          for (const hp of t.hostPorts ?? []) {
            expect(u.ports.has(`${hp.protocol}/${hp.port}`)).toBe(false);
            u.ports.add(`${hp.protocol}/${hp.port}`);
          }
          const before = u.per.get(t.serviceKey) ?? 0;
          if (t.placement?.maxPerNode !== undefined) expect(before).toBeLessThan(t.placement.maxPerNode);
          u.per.set(t.serviceKey, before + 1);
        }
        for (const n of nodes) {
          expect(used.get(n.id)!.cpu).toBeLessThanOrEqual(Math.max(n.capacity.cpuMilli, n.allocated.cpuMilli));
          expect(used.get(n.id)!.mem).toBeLessThanOrEqual(Math.max(n.capacity.memoryBytes, n.allocated.memoryBytes));
        }
        const seen = [...p.assignments.map((a) => a.taskId), ...p.unplaced.map((u) => u.taskId)].sort();
        expect(seen).toEqual(pending.map((t) => t.id).sort());
      }),
    );
  });

  it('spreadBy on equal zones: each zone within one task of even', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer(),
        (zoneCount, perZone, count, seed) => {
          const nodes = ZONES.slice(0, zoneCount).flatMap((z) =>
            Array.from({ length: perZone }, (_, i) => node(`${z}${i}`, { labels: { zone: z } })),
          );
          const p = schedule({ nodes }, tasks(count, { placement: { spreadBy: 'node.labels.zone' } }), seed);
          expect(p.unplaced).toEqual([]);
          const byZone = ZONES.slice(0, zoneCount).map((z) => p.assignments.filter((a) => a.nodeId.startsWith(z)).length);
          expect(Math.max(...byZone) - Math.min(...byZone)).toBeLessThanOrEqual(1);
          const byNode = nodes.map((n) => p.assignments.filter((a) => a.nodeId === n.id).length);
          expect(Math.max(...byNode) - Math.min(...byNode)).toBeLessThanOrEqual(1);
        },
      ),
    );
  });

  it('same input and seed give the same plan, whatever the order of nodes and tasks', () => {
    fc.assert(
      fc.property(clusterArb, svcsArb, fc.integer(), (nodes, svcs, seed) => {
        const pending = pendingOf(svcs);
        const p = schedule({ nodes }, pending, seed, { explain: true });
        expect(schedule({ nodes: [...nodes].reverse() }, [...pending].reverse(), seed, { explain: true })).toEqual(p);
      }),
    );
  });
});
