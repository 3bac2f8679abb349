// The controller's observation parts on the memory store and fakes: service discovery targets,
// event filters and subjects, events recorded from the caches, leader-only cluster metrics, etcd
// metrics, top aggregation, exec replica choice, and the spec.metrics field.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../proto/src/log.js';
import type { NodeRecord, TaskRecord } from '../../proto/src/model.js';
import { validateServiceManifest } from '../../proto/src/spec/service.js';
import { EVENT_TYPES, MemorySink, type BerthEvent } from '../../controller/src/events/events.js';
import { filterSubject, matchesEvent } from '../../controller/src/events/filter.js';
import { eventSubject } from '../../controller/src/events/subject.js';
import { recordCacheEvents } from '../../controller/src/events/recorder.js';
import { ControllerMetrics } from '../../controller/src/metrics/metrics.js';
import { clusterState, observePlacements } from '../../controller/src/observe/cluster-state.js';
import { ClusterCache } from '../../controller/src/store/cluster.js';
import { InstrumentedStore } from '../../controller/src/store/instrumented-store.js';
import { Keys } from '../../controller/src/store/keys.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { agentTargets, controllerTargets, taskTargets } from '../../controller/src/observe/sd.js';
import { aggregateUsage } from '../../controller/src/observe/usage.js';
import { pickReplica } from '../../controller/src/observe/exec.js';
import { MAX_OPEN_STREAMS, eventFilter, observeHandlers } from '../../controller/src/observe/server.js';
import { eventsSection } from '../../cli/src/events-view.js';
import { toApiError } from '../../cli/src/client.js';
import { T0, mockNode, mockService, mockTask } from './fixtures.js';

const svc = mockService({ replicas: 2 });
const withMetrics = mockService({ name: 'api', replicas: 2, spec: { metrics: { port: 9100, path: '/custom' } } });

function node(id: string, extra: Partial<NodeRecord['description']> = {}, state: NodeRecord['state'] = 'ready'): NodeRecord {
  const n = mockNode(id, { state });
  return { ...n, description: { ...n.description, address: `10.0.0.${id.slice(1)}`, ...extra } };
}

describe('Prometheus service discovery targets', () => {
  it('lists controllers and agents that serve metrics, whatever their state', () => {
    expect(
      controllerTargets([
        { id: 'c2', metricsAddress: '10.0.0.2:9470' },
        { id: 'c1', metricsAddress: '10.0.0.1:9470' },
        { id: 'c3', metricsAddress: '' },
      ]),
    ).toEqual([
      { targets: ['10.0.0.1:9470'], labels: { controller: 'c1' } },
      { targets: ['10.0.0.2:9470'], labels: { controller: 'c2' } },
    ]);
    expect(
      agentTargets([node('n2', { metricsAddress: '10.0.0.2:9471' }, 'down'), node('n1', { metricsAddress: '10.0.0.1:9471' }), node('n3')]),
    ).toEqual([
      { targets: ['10.0.0.1:9471'], labels: { node: 'n1' } },
      { targets: ['10.0.0.2:9471'], labels: { node: 'n2' } },
    ]);
  });

  it('lists each running replica of a service with spec.metrics at its node and published port', () => {
    const port = (hostIp: string, hostPort: number, containerPort = 9100) => ({ containerPort, hostPort, protocol: 'tcp', hostIp });
    const tasks: TaskRecord[] = [
      mockTask(withMetrics, { slot: 2, nodeId: 'n2', status: { ports: [port('0.0.0.0', 32001), port('::', 32001)] } }),
      mockTask(withMetrics, { slot: 1, nodeId: 'n1', status: { ports: [port('127.0.0.9', 32000)] } }),
      mockTask(withMetrics, { slot: 3, nodeId: 'n1', state: 'starting', status: { ports: [port('0.0.0.0', 32002)] } }),
      mockTask(withMetrics, { slot: 4, nodeId: 'n1', status: { ports: [port('0.0.0.0', 32003, 8080)] } }),
      mockTask(withMetrics, { slot: 5, nodeId: 'n1', desiredState: 'shutdown', status: { ports: [port('0.0.0.0', 32004)] } }),
      mockTask(svc, { slot: 1, nodeId: 'n1', status: { ports: [port('0.0.0.0', 32005)] } }),
    ];
    const nodes = new Map([
      ['n1', node('n1')],
      ['n2', node('n2')],
    ]);
    expect(taskTargets(tasks, nodes)).toEqual([
      {
        targets: ['127.0.0.9:32000'],
        labels: { namespace: 'default', service: 'api', slot: '1', node: 'n1', __metrics_path__: '/custom' },
      },
      { targets: ['10.0.0.2:32001'], labels: { namespace: 'default', service: 'api', slot: '2', node: 'n2', __metrics_path__: '/custom' } },
    ]);
  });
});

describe('spec.metrics', () => {
  const doc = (spec: Record<string, unknown>) => ({
    apiVersion: 'berth.dev/v1',
    kind: 'Service',
    metadata: { name: 'm' },
    spec: { image: 'x:1', ...spec },
  });

  it('defaults the path and requires the port to be published over tcp', () => {
    const ok = validateServiceManifest(doc({ ports: [{ containerPort: 9100 }], metrics: { port: 9100 } }));
    expect(ok.ok && ok.value.spec.metrics).toEqual({ port: 9100, path: '/metrics' });
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ metrics: { port: 9100 } }, 'spec.metrics.port', 'container port 9100 is not published'],
      [{ ports: [{ containerPort: 9100, protocol: 'udp' }], metrics: { port: 9100 } }, 'spec.metrics.port', 'is not published'],
      [{ ports: [{ containerPort: 9100 }], metrics: {} }, 'spec.metrics.port', 'required field is missing'],
      [
        { ports: [{ containerPort: 9100 }], metrics: { port: 9100, path: 'metrics' } },
        'spec.metrics.path',
        'expected an absolute URL path',
      ],
      [{ ports: [{ containerPort: 9100 }], metrics: { port: 9100, path: '/m?x=1' } }, 'spec.metrics.path', 'no query string'],
      [{ ports: [{ containerPort: 9100 }], metrics: { port: 70000 } }, 'spec.metrics.port', 'must be at most 65535'],
    ];
    for (const [spec, path, message] of cases) {
      const v = validateServiceManifest(doc(spec));
      expect(v.ok, JSON.stringify(spec)).toBe(false);
      if (!v.ok) expect(v.issues.find((i) => i.path === path)?.message, JSON.stringify(spec)).toContain(message);
    }
  });
});

describe('event subjects and filters', () => {
  it('every event type is <object>.<change>, as the subjects require', () => {
    for (const t of EVENT_TYPES) expect(t).toMatch(/^[a-z]+\.[a-z_]+$/);
  });

  it('narrows the subscription as far as the subject allows, and every published subject it should match does', () => {
    expect(filterSubject({})).toBe('berth.events.*.*.*.*');
    expect(filterSubject({ types: ['task.state'], namespace: 'prod', service: 'web' })).toBe('berth.events.task.state.prod.web');
    expect(filterSubject({ types: ['node'], node: 'h1' })).toBe('berth.events.node.*.*.h1');
    expect(filterSubject({ node: 'h1' })).toBe('berth.events.*.*.*.*');
    expect(filterSubject({ types: ['task', 'node'] })).toBe('berth.events.*.*.*.*');
    const subjectMatches = (pattern: string, subject: string): boolean => {
      const p = pattern.split('.');
      const s = subject.split('.');
      return p.length === s.length && p.every((x, i) => x === '*' || x === s[i]);
    };
    const events: BerthEvent[] = [
      { type: 'task.state', namespace: 'prod', service: 'web', node: 'h1', slot: 1, state: 'running', message: '' },
      { type: 'node.state', node: 'h1', state: 'down', message: '' },
      { type: 'rollout.started', namespace: 'prod', service: 'web', message: '' },
    ];
    const filters = [
      {},
      { namespace: 'prod' },
      { service: 'web' },
      { node: 'h1' },
      { types: ['node'], node: 'h1' },
      { types: ['task.state'] },
      { types: ['rollout'] },
    ];
    for (const f of filters) {
      for (const e of events)
        if (matchesEvent(f, e)) expect(subjectMatches(filterSubject(f), eventSubject(e)), `${JSON.stringify(f)} ${e.type}`).toBe(true);
    }
    expect(events.filter((e) => matchesEvent({ node: 'h1' }, e)).map((e) => e.type)).toEqual(['task.state', 'node.state']);
    expect(events.filter((e) => matchesEvent({ namespace: 'prod' }, e)).map((e) => e.type)).toEqual(['task.state', 'rollout.started']);
    expect(events.filter((e) => matchesEvent({ types: ['task.sta'] }, e))).toEqual([]);
  });

  it('refuses unknown types by name', () => {
    expect(eventFilter({ namespace: '', service: 'web', node: '', types: ['rollout', 'task.state'] })).toEqual({
      service: 'web',
      types: ['rollout', 'task.state'],
    });
    expect(eventFilter({ namespace: '', service: '', node: '', types: ['task.state', 'bogus'] })).toMatch(
      /^types\[1\]: unknown event type "bogus"; known: service.applied, /,
    );
  });
});

async function cacheOn(store: MemoryStore, keys: Keys): Promise<{ cache: ClusterCache; stop: () => void }> {
  const cache = new ClusterCache(store, keys, silentLogger());
  const ac = new AbortController();
  void cache.start(ac.signal);
  await cache.synced;
  return { cache, stop: () => ac.abort() };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

describe('events recorded from the caches', () => {
  it('a task created, then placed, then a node drained: in store order', async () => {
    const store = new MemoryStore();
    const keys = new Keys();
    const n1 = node('n1');
    await store.commit([{ op: 'create', key: keys.node('n1'), value: JSON.stringify(n1) }]);
    const { cache, stop } = await cacheOn(store, keys);
    const sink = new MemorySink();
    const off = recordCacheEvents(cache, sink);
    const t = {
      ...mockTask(svc, { slot: 1, nodeId: '', state: 'pending', status: { message: 'waiting for placement' } }),
      specRevision: 3,
    };
    const rev = await store.commit([{ op: 'create', key: keys.task(t.id), value: JSON.stringify(t) }]);
    const placed = { ...t, nodeId: 'n1', status: { state: 'assigned' as const, message: 'assigned to n1', timestampMs: T0 + 50 } };
    await store.commit([{ op: 'update', key: keys.task(t.id), value: JSON.stringify(placed), modRevision: rev }]);
    // Within one state: a new error (a failing pull) and a health change are news; the same error again is not.
    const preparing = { ...placed, status: { ...placed.status, state: 'preparing' as const, message: 'preparing container' } };
    const pullFailed = {
      ...placed,
      status: { ...placed.status, state: 'preparing' as const, message: 'pull failed: denied; retrying in 1s', err: 'pull failed: denied' },
    };
    const pullAgain = { ...pullFailed, status: { ...pullFailed.status, message: 'pull failed: denied; retrying in 2s' } };
    const running = {
      ...placed,
      status: { ...placed.status, state: 'running' as const, message: 'container running', health: 'starting' },
    };
    const healthy = { ...running, status: { ...running.status, message: 'container running, healthy', health: 'healthy' } };
    // An in-place restart is news (why it ended); the container up again after it is not.
    const oom = 'killed: out of memory (limit 8Mi); restarting in 1s (restart 1)';
    const restarting = {
      ...healthy,
      status: { ...healthy.status, message: oom, health: '', container: 'backoff' as const, restarts: 1, exitCode: 137, oomKilled: true },
    };
    const upAgain = { ...healthy, status: { ...healthy.status, message: 'container running (restarted 1×)', health: '', restarts: 1 } };
    const oomAgain = 'killed: out of memory (limit 8Mi); restarting in 2s (restart 2)';
    const restartingAgain = { ...restarting, status: { ...restarting.status, message: oomAgain, restarts: 2 } };
    let r = rev + 1;
    for (const next of [preparing, pullFailed, pullAgain, running, healthy, restarting, upAgain, restartingAgain]) {
      await store.commit([{ op: 'update', key: keys.task(t.id), value: JSON.stringify(next), modRevision: r }]);
      r = (await store.get(keys.task(t.id)))!.modRevision;
    }
    const nrev = (await store.get(keys.node('n1')))!.modRevision;
    await store.commit([
      { op: 'update', key: keys.node('n1'), value: JSON.stringify({ ...n1, availability: 'drain' }), modRevision: nrev },
    ]);
    await until(() => sink.events.length === 7);
    expect(sink.events.map((e) => [e.type, e.state, e.node ?? '', e.message])).toEqual([
      ['task.state', 'pending', '', 'created for revision 3: waiting for placement'],
      ['task.state', 'assigned', 'n1', 'assigned to n1'],
      ['task.state', 'preparing', 'n1', 'pull failed: denied; retrying in 1s'],
      ['task.state', 'running', 'n1', 'container running, healthy'],
      ['task.state', 'running', 'n1', oom],
      ['task.state', 'running', 'n1', oomAgain],
      ['node.availability', 'drain', 'n1', 'node n1 is now drain'],
    ]);
    off();
    stop();
  });
});

async function exposition(metrics: ControllerMetrics, name: string): Promise<string[]> {
  return (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('cluster-state metrics', () => {
  it('come from the leader only; every task state of a service is a series', async () => {
    const store = new MemoryStore();
    const keys = new Keys();
    const { cache, stop } = await cacheOn(store, keys);
    const metrics = new ControllerMetrics();
    let leader = false;
    metrics.observeCluster(() => (leader ? clusterState(cache) : undefined));
    await store.commit([
      { op: 'create', key: keys.service('default', 'web'), value: JSON.stringify(svc) },
      { op: 'create', key: keys.node('n1'), value: JSON.stringify(node('n1')) },
      { op: 'create', key: keys.node('n2'), value: JSON.stringify(node('n2', {}, 'down')) },
      { op: 'create', key: keys.task('a'), value: JSON.stringify({ ...mockTask(svc, { slot: 1 }), id: 'a' }) },
      {
        op: 'create',
        key: keys.task('b'),
        value: JSON.stringify({ ...mockTask(svc, { slot: 2, state: 'running', status: { health: 'unhealthy' } }), id: 'b' }),
      },
      {
        op: 'create',
        key: keys.task('c'),
        value: JSON.stringify({ ...mockTask(svc, { slot: 2, state: 'failed', desiredState: 'shutdown' }), id: 'c' }),
      },
    ]);
    await until(() => cache.tasks.list().length === 3 && cache.nodes.list().length === 2);
    expect(await exposition(metrics, 'berth_service_desired_replicas')).toEqual([]);
    leader = true;
    await new Promise((r) => setTimeout(r, 600)); // past the per-scrape memo
    expect(await exposition(metrics, 'berth_service_desired_replicas')).toEqual([
      'berth_service_desired_replicas{namespace="default",service="web"} 2',
    ]);
    expect(await exposition(metrics, 'berth_service_running_replicas')).toEqual([
      'berth_service_running_replicas{namespace="default",service="web"} 2',
    ]);
    expect(await exposition(metrics, 'berth_service_ready_replicas')).toEqual([
      'berth_service_ready_replicas{namespace="default",service="web"} 1',
    ]);
    const tasks = await exposition(metrics, 'berth_tasks');
    expect(tasks).toHaveLength(10);
    expect(tasks).toContain('berth_tasks{namespace="default",service="web",state="running"} 2');
    expect(tasks).toContain('berth_tasks{namespace="default",service="web",state="failed"} 0');
    expect(await exposition(metrics, 'berth_node_state')).toContain('berth_node_state{node="n2",state="down"} 1');
    expect(await exposition(metrics, 'berth_nodes')).toContain('berth_nodes{state="ready",availability="active"} 1');
    stop();
  });

  it('observe the placement latency of each task placed', async () => {
    const store = new MemoryStore();
    const keys = new Keys();
    const { cache, stop } = await cacheOn(store, keys);
    const metrics = new ControllerMetrics();
    const off = observePlacements(cache, metrics);
    const t = { ...mockTask(svc, { slot: 1, nodeId: '', state: 'pending' }), createdAtMs: T0 };
    const rev = await store.commit([{ op: 'create', key: keys.task(t.id), value: JSON.stringify(t) }]);
    await store.commit([
      {
        op: 'update',
        key: keys.task(t.id),
        value: JSON.stringify({ ...t, nodeId: 'n1', status: { state: 'assigned', message: '', timestampMs: T0 + 30 } }),
        modRevision: rev,
      },
    ]);
    await until(() => cache.tasks.list()[0]?.value.nodeId === 'n1');
    expect(await exposition(metrics, 'berth_scheduler_placement_latency_seconds_count')).toEqual([
      'berth_scheduler_placement_latency_seconds_count 1',
    ]);
    expect(await exposition(metrics, 'berth_scheduler_placement_latency_seconds_sum')).toEqual([
      'berth_scheduler_placement_latency_seconds_sum 0.03',
    ]);
    off();
    stop();
  });
});

describe('etcd metrics (InstrumentedStore)', () => {
  it('counts requests by operation and result', async () => {
    const metrics = new ControllerMetrics();
    const store = new InstrumentedStore(new MemoryStore(), metrics);
    await store.commit([{ op: 'create', key: 'k', value: '1' }]);
    await expect(store.commit([{ op: 'create', key: 'k', value: '2' }])).rejects.toThrow();
    await store.get('k');
    await store.list('');
    const lines = await exposition(metrics, 'berth_etcd_requests_total');
    for (const want of [
      'op="commit",result="ok"} 1',
      'op="commit",result="conflict"} 1',
      'op="get",result="ok"} 1',
      'op="list",result="ok"} 1',
    ]) {
      expect(
        lines.some((l) => l.endsWith(want)),
        want,
      ).toBe(true);
    }
    expect(await exposition(metrics, 'berth_etcd_request_duration_seconds_count')).toContain(
      'berth_etcd_request_duration_seconds_count{op="commit"} 2',
    );
  });
});

describe('top aggregation', () => {
  it('sums per service (of the namespace asked) and per node; a node that cannot answer says why', () => {
    const sample = (service: string, slot: number, cpuCores: number, memoryBytes: number, namespace = 'default') => ({
      taskId: `${service}${slot}`,
      namespace,
      service,
      slot,
      cpuCores,
      memoryBytes,
      memoryLimitBytes: 0,
      sampledAtMs: T0,
    });
    const u = aggregateUsage(
      [
        { node: node('n2'), tasks: [sample('web', 2, 0.5, 200), sample('db', 1, 1, 1000, 'other')] },
        { node: node('n1'), tasks: [sample('web', 1, 0.25, 100)] },
        { node: node('n3', {}, 'down'), error: 'node n3 is down' },
      ],
      'default',
    );
    expect(u.services).toEqual([{ namespace: 'default', service: 'web', replicas: 2, cpuCores: 0.75, memoryBytes: 300 }]);
    expect(u.nodes.map((n) => [n.node, n.containers, n.cpuCores, n.memoryBytes, n.error])).toEqual([
      ['n1', 1, 0.25, 100, ''],
      ['n2', 2, 1.5, 1200, ''],
      ['n3', 0, 0, 0, 'node n3 is down'],
    ]);
    expect(u.tasks.map((t) => `${t.service}.${t.slot}@${t.node}`)).toEqual(['web.1@n1', 'web.2@n2']);
  });
});

describe('exec: which replica', () => {
  it('the asked slot if it runs; otherwise the lowest running slot', () => {
    const tasks = [
      mockTask(svc, { slot: 3 }),
      mockTask(svc, { slot: 1, state: 'starting' }),
      mockTask(svc, { slot: 2, instance: 0, desiredState: 'shutdown' }),
      mockTask(svc, { slot: 2, instance: 1 }),
    ];
    expect(pickReplica(tasks, 0)?.slot).toBe(2);
    expect(pickReplica(tasks, 2)?.id).toBe(tasks[3]!.id);
    expect(pickReplica(tasks, 1)).toBeUndefined();
    const global = [mockTask(svc, { slot: 0, nodeId: 'n2' }), mockTask(svc, { slot: 0, nodeId: 'n1' })];
    expect(pickReplica(global, 0, 'n2')?.nodeId).toBe('n2');
    expect(pickReplica(global, 0)?.nodeId).toBe('n1');
    expect(pickReplica(global, 0, 'n3')).toBeUndefined();
  });
});

describe('ObserveAPI stream limit', () => {
  it('refuses streams beyond MAX_OPEN_STREAMS until one ends', async () => {
    const reader = {
      read: (_f: unknown, _o: unknown, _e: unknown, signal: AbortSignal) =>
        new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true })),
      close: async () => undefined,
    };
    const metrics = new ControllerMetrics();
    const store = new MemoryStore();
    const handlers = observeHandlers({
      cache: new ClusterCache(store, new Keys(), silentLogger()),
      agents: {} as never,
      events: reader,
      log: silentLogger(),
      metrics,
    });
    const open = (): EventEmitter & { error?: { code?: number } } => {
      const call = Object.assign(new EventEmitter(), {
        request: { namespace: '', service: '', node: '', types: [], sinceMs: 0, limit: 0, follow: true },
        write: () => true,
        end: () => undefined,
      }) as EventEmitter & { error?: { code?: number } };
      call.on('error', (e: { code?: number }) => (call.error = e));
      handlers.Events(call as never);
      return call;
    };
    const calls = Array.from({ length: MAX_OPEN_STREAMS }, open);
    expect(calls.every((c) => c.error === undefined)).toBe(true);
    expect(await exposition(metrics, 'berth_controller_api_streams')).toContain(
      `berth_controller_api_streams{method="Events"} ${MAX_OPEN_STREAMS}`,
    );
    expect(open().error?.code).toBe(8); // RESOURCE_EXHAUSTED
    calls[0]!.emit('cancelled');
    await new Promise((r) => setTimeout(r, 10));
    expect(open().error).toBeUndefined();
    for (const c of calls) c.emit('cancelled');
  });
});

describe('events section of berth describe', () => {
  it('one row per event, or <none>', () => {
    expect(eventsSection([], T0)).toEqual({ title: 'Events', lines: ['<none>'] });
    const e = (type: string, extra: Record<string, unknown>) => ({
      type,
      namespace: 'default',
      service: '',
      node: '',
      task: '',
      slot: 0,
      state: '',
      message: 'm',
      timeMs: T0 - 90_000,
      seq: 1,
      ...extra,
    });
    expect(
      eventsSection(
        [
          e('task.state', { service: 'web', slot: 2, node: 'h1', state: 'running', message: 'container running' }),
          e('node.state', { namespace: '', node: 'h2', state: 'down', message: 'gone' }),
        ],
        T0,
      ).lines,
    ).toEqual([
      'AGE       TYPE         STATE     OBJECT     MESSAGE',
      '90s ago   task.state   running   web.2@h1   container running',
      '90s ago   node.state   down      node/h2    gone',
    ]);
  });
});

describe('toApiError (CLI, every client: ControlAPI, ObserveAPI, RolloutAPI, ...)', () => {
  const grpcErr = (details: string, code = 14) => Object.assign(new Error(details), { code, details, metadata: undefined as never });
  it('tells an unreachable controller from a reason the controller gave', () => {
    expect(toApiError(grpcErr('No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1'), '127.0.0.1:1').message).toBe(
      'cannot reach the controller at 127.0.0.1:1 (No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1); start one with `berth up` or set BERTH_CONTROLLER / --controller',
    );
    expect(toApiError(grpcErr('event stream unavailable: CONNECTION_REFUSED'), 'x').message).toBe(
      'event stream unavailable: CONNECTION_REFUSED',
    );
    expect(toApiError(grpcErr('etcd unavailable: connect ECONNREFUSED 127.0.0.1:2379'), 'x').message).toBe(
      'etcd unavailable: connect ECONNREFUSED 127.0.0.1:2379',
    );
    expect(toApiError(grpcErr('the agent on h1 cannot be reached (connect ECONNREFUSED 127.0.0.1:9)'), 'x').message).toBe(
      'the agent on h1 cannot be reached (connect ECONNREFUSED 127.0.0.1:9)',
    );
  });
  it("names the deadline; other codes keep the controller's words", () => {
    expect(toApiError(grpcErr('Deadline exceeded', 4), 'h:1', 2_000).message).toBe('the controller at h:1 did not answer within 2s');
    const e = toApiError(grpcErr('service default/web not found', 5), 'x');
    expect([e.code, e.message]).toEqual([5, 'service default/web not found']);
  });
});
