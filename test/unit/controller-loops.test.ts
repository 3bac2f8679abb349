// The replicated orchestrator and the scheduler shell together on the memory store, with no
// agents: asserted on the writes they make (every commit is recorded) and the states the task
// records reach — one task per slot created pending, then placed; a scale-down that moves the
// extra slots' desired state forward and leaves the rest alone; a service that fits nowhere
// stays pending with the reason; a converged cluster is not written again.
import { describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../proto/src/clock.js';
import { silentLogger } from '../../proto/src/log.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import type { WriteOp } from '../../controller/src/store/store.js';
import { Keys } from '../../controller/src/store/keys.js';
import { ClusterCache } from '../../controller/src/store/cluster.js';
import { ServiceApi } from '../../controller/src/api/services.js';
import { ServiceOrchestrator, applyPlan, replicatedStrategy } from '../../controller/src/orchestrator/service-orchestrator.js';
import { decodeVersioned, rolloutCodec, serviceCodec } from '../../controller/src/store/codecs.js';
import { rollbackRecord } from '../../controller/src/store/revisions.js';
import { startRecord } from '../../controller/src/orchestrator/rollout-plan.js';
import { SchedulerLoop } from '../../controller/src/scheduler/shell.js';
import { MemorySink } from '../../controller/src/events/events.js';
import type { NodeRecord, TaskRecord } from '../../proto/src/model.js';

const manifest = (replicas: number, memory = '16Mi') => ({
  apiVersion: 'berth.dev/v1',
  kind: 'Service',
  metadata: { name: 'web' },
  spec: { image: 'berth-local/busybox:1', replicas, resources: { cpu: 0.1, memory } },
});

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A memory store that records every committed write of a task record, in order. */
class RecordingStore extends MemoryStore {
  readonly taskWrites: Array<{ op: WriteOp['op']; task: TaskRecord }> = [];
  constructor(private readonly tasksPrefix: string) {
    super();
  }
  override async commit(ops: WriteOp[]): Promise<number> {
    const rev = await super.commit(ops);
    for (const o of ops) {
      if ((o.op === 'create' || o.op === 'update') && o.key.startsWith(this.tasksPrefix))
        this.taskWrites.push({ op: o.op, task: JSON.parse(o.value) as TaskRecord });
    }
    return rev;
  }
}

const node: NodeRecord = {
  id: 'n1',
  description: {
    hostname: 'h',
    capacity: { cpuMilli: 2000, memoryBytes: 2 ** 30 },
    engineVersion: '',
    os: 'linux',
    arch: 'amd64',
    labels: {},
    address: '127.0.0.1',
    agentVersion: '',
  },
  state: 'ready',
  availability: 'active',
  labels: {},
  stateChangedAtMs: 0,
  message: '',
};

async function harness() {
  const keys = new Keys();
  const store = new RecordingStore(keys.tasks);
  const log = silentLogger();
  const cache = new ClusterCache(store, keys, log);
  const events = new MemorySink();
  const api = new ServiceApi({ store, keys, clock: systemClock, events });
  await store.commit([{ op: 'create', key: keys.node('n1'), value: JSON.stringify(node) }]);
  const ac = new AbortController();
  const run = Promise.all([
    cache.start(ac.signal),
    new ServiceOrchestrator({ cache, clock: new ManualClock(), log, events }, replicatedStrategy).start(ac.signal),
    new SchedulerLoop({ cache, clock: systemClock, log, events }).start(ac.signal),
  ]);
  /** The task records as stored (not as cached), by slot. */
  const stored = async (): Promise<TaskRecord[]> =>
    (await store.list(keys.tasks)).items
      .map((kv) => JSON.parse(kv.value) as TaskRecord)
      .sort((a, b) => a.slot - b.slot || a.createdAtMs - b.createdAtMs);
  const cached = (): TaskRecord[] => cache.tasks.list().map((t) => t.value);
  const stop = async (): Promise<void> => {
    ac.abort();
    await run;
  };
  return { store, keys, api, events, stored, cached, stop };
}

describe('orchestrator + scheduler on the memory store', () => {
  it('creates one pending task per slot, then places each on the node: those writes and no others', async () => {
    const h = await harness();
    try {
      const { service } = await h.api.apply(manifest(3));
      await until(() => h.cached().length === 3 && h.cached().every((t) => t.status.state === 'assigned'), '3 tasks assigned');
      const tasks = await h.stored();
      expect(tasks.map((t) => [t.slot, t.nodeId, t.desiredState, t.status.state, t.specRevision, t.serviceUid])).toEqual([
        [1, 'n1', 'running', 'assigned', 1, service.value.meta.uid],
        [2, 'n1', 'running', 'assigned', 1, service.value.meta.uid],
        [3, 'n1', 'running', 'assigned', 1, service.value.meta.uid],
      ]);
      expect(new Set(tasks.map((t) => t.id)).size).toBe(3);
      expect(new Set(tasks.map((t) => t.containerName)).size).toBe(3);
      // The orchestrator created each slot once, unplaced and pending, with the revision's spec...
      const creates = h.store.taskWrites.filter((w) => w.op === 'create');
      expect(creates.map((w) => [w.task.slot, w.task.nodeId, w.task.status.state, w.task.desiredState]).sort()).toEqual([
        [1, '', 'pending', 'running'],
        [2, '', 'pending', 'running'],
        [3, '', 'pending', 'running'],
      ]);
      for (const w of creates) expect(w.task.spec).toEqual(service.value.spec);
      // ...and the scheduler placed each once: pending → assigned on n1, nothing else changed.
      const updates = h.store.taskWrites.filter((w) => w.op === 'update');
      expect(updates.map((w) => [w.task.slot, w.task.nodeId, w.task.status.state]).sort()).toEqual([
        [1, 'n1', 'assigned'],
        [2, 'n1', 'assigned'],
        [3, 'n1', 'assigned'],
      ]);
      for (const u of updates) {
        const created = creates.find((c) => c.task.id === u.task.id)!.task;
        expect({ ...u.task, nodeId: '', status: created.status }).toEqual(created);
      }
      // Converged: re-applying the same manifest writes nothing, and the loops write nothing more.
      const writes = h.store.taskWrites.length;
      const revision = h.store.currentRevision;
      expect((await h.api.apply(manifest(3))).result).toBe('unchanged');
      await new Promise((r) => setTimeout(r, 100));
      expect([h.store.taskWrites.length, h.store.currentRevision]).toEqual([writes, revision]);
    } finally {
      await h.stop();
    }
  });

  it('scaling down moves the highest slots to shutdown and leaves the others as they are', async () => {
    const h = await harness();
    try {
      await h.api.apply(manifest(3));
      await until(() => h.cached().length === 3 && h.cached().every((t) => t.status.state === 'assigned'), '3 tasks assigned');
      const before = await h.stored();
      const writes = h.store.taskWrites.length;
      await h.api.apply(manifest(1));
      await until(() => h.cached().filter((t) => t.desiredState === 'running').length === 1, 'one slot left running');
      const after = await h.stored();
      // The same three tasks (none created, none replaced): slot 1 still wanted, 2 and 3 not.
      expect(after.map((t) => t.id)).toEqual(before.map((t) => t.id));
      expect(after.map((t) => [t.slot, t.desiredState, t.nodeId])).toEqual([
        [1, 'running', 'n1'],
        [2, 'shutdown', 'n1'],
        [3, 'shutdown', 'n1'],
      ]);
      const since = h.store.taskWrites.slice(writes);
      expect(since.filter((w) => w.op === 'create')).toEqual([]);
      expect([...new Set(since.map((w) => w.task.slot))].sort()).toEqual([2, 3]);
      expect(since.every((w) => w.task.desiredState === 'shutdown')).toBe(true);
    } finally {
      await h.stop();
    }
  });

  it('a service that fits on no node stays pending, unplaced, with the reason', async () => {
    const h = await harness();
    try {
      await h.api.apply(manifest(2, '4Gi'));
      await until(() => h.cached().length === 2 && h.cached().every((t) => /memory/.test(t.status.message)), 'the reason written');
      const tasks = await h.stored();
      expect(tasks.map((t) => [t.slot, t.nodeId, t.status.state])).toEqual([
        [1, '', 'pending'],
        [2, '', 'pending'],
      ]);
      for (const t of tasks) expect(t.status.message).toMatch(/^no suitable node: 1 node: memory short by /);
    } finally {
      await h.stop();
    }
  });
});

// The service and rollout informers are separate watches: the rollout record an automatic
// rollback writes with the service's new revision (one transaction) can reach a reconcile before
// that revision does. A plan from the older service must not replace the rollback's record with a
// plain rollout's (rollout status then said "revision 3 runs on every replica" instead of why it
// rolled back): the record is written only while the service is still the one planned from.
describe('the rollout record and a service seen late', () => {
  it('a plan from an older service revision does not replace the record of a rollback', async () => {
    const keys = new Keys();
    const store = new MemoryStore();
    const log = silentLogger();
    const cache = new ClusterCache(store, keys, log);
    const api = new ServiceApi({ store, keys, clock: systemClock, events: new MemorySink() });
    await api.apply(manifest(1));
    const svcKey = keys.service('default', 'web');
    const seen = decodeVersioned(serviceCodec, (await store.get(svcKey))!);
    // The rollback: the service's next revision and its rollback record, in one transaction.
    const next = { ...seen.value, specRevision: seen.value.specRevision + 1 };
    const rollback = rollbackRecord(seen.value, next.specRevision, 1, 'no progress for 5s (update.progressDeadline)', 1_000);
    await store.commit([
      { op: 'update', key: svcKey, value: serviceCodec.encode(next), modRevision: seen.modRevision },
      { op: 'put', key: keys.rollout('default', 'web'), value: rolloutCodec.encode(rollback) },
    ]);
    const recKv = (await store.get(keys.rollout('default', 'web')))!;
    const rec = decodeVersioned(rolloutCodec, recKv);
    // A reconcile that has the new record but the old service plans a fresh rollout of it.
    const plan = {
      create: [],
      update: [],
      delete: [],
      deleteService: false,
      rollout: startRecord(seen.value, rec.value, 2_000),
    };
    await expect(
      applyPlan({ cache, clock: new ManualClock(), log, events: new MemorySink() }, 'default/web', seen, new Map(), plan, rec),
    ).rejects.toThrow(/conflict/);
    const stored = decodeVersioned(rolloutCodec, (await store.get(keys.rollout('default', 'web')))!);
    expect([stored.value.rollbackOf, stored.value.state, stored.modRevision]).toEqual([
      seen.value.specRevision,
      'rollback_started',
      recKv.modRevision,
    ]);
  });
});
