// The scheduling loops together on the memory store: replicated and global orchestrators, the
// scheduler shell, rebalancing and the busy-port marks, with a stand-in for the agents that
// reports assigned tasks running and stopped tasks shut down (or a start failure for a busy
// port). Asserted on the records written.
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../proto/src/clock.js';
import { silentLogger } from '../../proto/src/log.js';
import type { NodeRecord, TaskRecord, TaskStatus } from '../../proto/src/model.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { Keys } from '../../controller/src/store/keys.js';
import { ClusterCache } from '../../controller/src/store/cluster.js';
import { ServiceApi } from '../../controller/src/api/services.js';
import { summarizeService } from '../../controller/src/model/service-status.js';
import { NodeApi } from '../../controller/src/api/nodes.js';
import { ServiceOrchestrator, globalStrategy, replicatedStrategy } from '../../controller/src/orchestrator/service-orchestrator.js';
import { SchedulerLoop } from '../../controller/src/scheduler/shell.js';
import { wouldPlace } from '../../controller/src/scheduler/scheduler.js';
import { RebalanceLoop } from '../../controller/src/orchestrator/rebalance.js';
import { BusyPortMarker } from '../../controller/src/nodes/busy-ports.js';
import { MemorySink } from '../../controller/src/events/events.js';
import { ConflictError } from '../../proto/src/errors.js';
import { mockNode } from './fixtures.js';

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function harness(nodeIds: string[]) {
  const store = new MemoryStore();
  const keys = new Keys();
  const log = silentLogger();
  const cache = new ClusterCache(store, keys, log);
  const events = new MemorySink();
  const services = new ServiceApi({ store, keys, clock: systemClock, events });
  const nodes = new NodeApi({ store, keys, clock: systemClock, services });
  for (const id of nodeIds) await store.commit([{ op: 'create', key: keys.node(id), value: JSON.stringify(mockNode(id)) }]);
  const failPort = new Map<string, string>(); // nodeId → engine error for tasks with host ports
  const ac = new AbortController();
  // The agents: assigned → running (or failed), desired shutdown → shutdown.
  const agent = cache.tasks.addHandler({
    onUpsert: (_k, t) => {
      const v = t.value;
      let status: TaskStatus | undefined;
      if (v.nodeId && v.desiredState === 'running' && v.status.state === 'assigned') {
        const err = (v.spec.ports ?? []).some((p) => p.hostPort) ? failPort.get(v.nodeId) : undefined;
        status = err
          ? { state: 'failed', message: `start failed: ${err}`, err, timestampMs: Date.now() }
          : { state: 'running', message: 'container running', timestampMs: Date.now(), startedAtMs: Date.now() };
      } else if (v.nodeId && v.desiredState !== 'running' && v.status.state === 'running')
        status = { state: 'shutdown', message: 'stopped', timestampMs: Date.now() };
      if (!status) return;
      const next: TaskRecord = { ...v, status };
      store
        .commit([{ op: 'update', key: keys.task(v.id), value: JSON.stringify(next), modRevision: t.modRevision }])
        .catch((e: unknown) => {
          if (!(e instanceof ConflictError)) throw e;
        });
    },
  });
  // Wired as manager.ts wires them (rebalancing asks the scheduler; the node loop marks busy ports).
  const scheduler = new SchedulerLoop({ cache, clock: systemClock, log, events });
  const run = Promise.all([
    cache.start(ac.signal),
    new ServiceOrchestrator({ cache, clock: systemClock, log, events }, replicatedStrategy).start(ac.signal),
    new ServiceOrchestrator({ cache, clock: systemClock, log, events }, globalStrategy).start(ac.signal),
    scheduler.start(ac.signal),
    new RebalanceLoop({ cache, clock: systemClock, log, events, placement: { nodes: () => scheduler.nodes(), place: wouldPlace } }).start(
      ac.signal,
    ),
    new BusyPortMarker({ cache, clock: systemClock, log, events }).start(ac.signal),
  ]);
  const tasks = (service: string): TaskRecord[] =>
    cache.tasks
      .list()
      .map((t) => t.value)
      .filter((t) => t.service === service);
  const live = (service: string): TaskRecord[] => tasks(service).filter((t) => t.desiredState === 'running');
  const runningOn = (service: string): Record<string, number> => {
    const m: Record<string, number> = {};
    for (const t of live(service)) if (t.status.state === 'running') m[t.nodeId] = (m[t.nodeId] ?? 0) + 1;
    return m;
  };
  const addNode = async (n: NodeRecord): Promise<void> => {
    await store.commit([{ op: 'create', key: keys.node(n.id), value: JSON.stringify(n) }]);
  };
  const stop = async (): Promise<void> => {
    agent();
    ac.abort();
    await run;
  };
  return { store, keys, cache, services, nodes, failPort, tasks, live, runningOn, addNode, stop, events };
}

const manifest = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'berth.dev/v1',
  kind: 'Service',
  metadata: { name },
  spec: { image: 'berth-local/busybox:1', ...spec },
});

describe('scheduling loops on the memory store', () => {
  it('a global service follows nodes joining and being drained', async () => {
    const h = await harness(['n1', 'n2']);
    try {
      await h.services.apply(manifest('agent', { mode: 'global' }));
      await until(() => JSON.stringify(h.runningOn('agent')) === JSON.stringify({ n1: 1, n2: 1 }), 'one per node');
      await h.addNode(mockNode('n3'));
      await until(() => h.runningOn('agent')['n3'] === 1, 'n3 got its task');
      expect(h.live('agent').every((t) => t.targetNodeId === t.nodeId && t.slot === 0)).toBe(true);
      await h.nodes.setAvailability('n1', 'drain');
      await until(() => h.runningOn('agent')['n1'] === undefined && h.live('agent').length === 2, 'gone from the drained node');
      const svc = await h.services.get('default', 'agent');
      expect(summarizeService(svc.value, h.tasks('agent')).desired).toBe(2);
    } finally {
      await h.stop();
    }
  });

  it('drain moves replicas start-first: the old task stops only after its successor runs', async () => {
    const h = await harness(['n1', 'n2', 'n3']);
    try {
      await h.services.apply(manifest('web', { replicas: 3 }));
      await until(() => Object.values(h.runningOn('web')).join() === '1,1,1', 'one per node');
      const old = h.live('web').find((t) => t.nodeId === 'n3')!;
      await h.nodes.setAvailability('n3', 'drain');
      await until(
        () =>
          h.runningOn('web')['n3'] === undefined && h.live('web').length === 3 && h.live('web').every((t) => t.status.state === 'running'),
        'moved off n3',
      );
      const successor = h.live('web').find((t) => t.slot === old.slot)!;
      expect(successor.handoverFrom).toBe(old.id);
      const stopped = h.tasks('web').find((t) => t.id === old.id)!;
      expect(stopped.desiredState).toBe('shutdown');
      expect(successor.status.startedAtMs!).toBeLessThanOrEqual(stopped.status.timestampMs);
    } finally {
      await h.stop();
    }
  });

  it('rebalancing (opt in) moves replicas onto a node that joins, start-first, then stops', async () => {
    const h = await harness(['n1', 'n2']);
    try {
      await h.services.apply(manifest('web', { replicas: 6, placement: { rebalance: { maxMoving: 1 } } }));
      await h.services.apply(manifest('plain', { replicas: 4 }));
      await until(
        () => Object.values(h.runningOn('web')).join() === '3,3' && Object.values(h.runningOn('plain')).join() === '2,2',
        'three per node',
      );
      await h.addNode(mockNode('n3'));
      await until(
        () => JSON.stringify(h.runningOn('web')) === JSON.stringify({ n1: 2, n2: 2, n3: 2 }) && h.live('web').length === 6,
        'web rebalanced to 2/2/2',
        15_000,
      );
      // Without opt-in nothing moves.
      expect(h.runningOn('plain')['n3']).toBeUndefined();
      const moved = h.live('web').filter((t) => t.nodeId === 'n3');
      expect(moved.every((t) => t.handoverFrom !== undefined)).toBe(true);
      // Balanced: no further moves.
      const before = h.tasks('web').length;
      await new Promise((r) => setTimeout(r, 1500));
      expect(h.tasks('web').length).toBe(before);
    } finally {
      await h.stop();
    }
  });

  it('a host port held outside Berth marks the node; the slot waits elsewhere with the reason', async () => {
    const h = await harness(['n1', 'n2']);
    h.failPort.set(
      'n1',
      'driver failed programming external connectivity on endpoint x: Error starting userland proxy: listen tcp4 127.0.0.9:18080: bind: address already in use',
    );
    try {
      await h.services.apply(manifest('web', { replicas: 2, ports: [{ containerPort: 8080, hostPort: 18080 }] }));
      await until(() => h.live('web').some((t) => t.status.message.includes('in use on the host')), 'reason on the pending task');
      const pending = h.live('web').find((t) => t.status.state === 'pending')!;
      expect(pending.status.message).toBe(
        'no suitable node: 1 node: port 18080/tcp in use on the host (not by Berth); 1 node: port 18080/tcp taken by default/web',
      );
      const n1 = h.cache.nodes.get(h.keys.node('n1'))!.value;
      expect(n1.unavailablePorts).toMatchObject([{ protocol: 'tcp', port: 18080, hostIp: '', failures: 1 }]);
      expect(h.tasks('web').filter((t) => t.status.state === 'failed')).toHaveLength(1);
    } finally {
      await h.stop();
    }
  });
});
