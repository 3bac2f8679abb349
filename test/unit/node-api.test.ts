// NodeAPI on the memory store: operator labels and availability (validated, conditional, stored
// state unchanged on bad input) and the what-if plan behind `berth plan`.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../proto/src/clock.js';
import { ValidationError, NotFoundError, ConflictError } from '../../proto/src/errors.js';
import type { NodeRecord, TaskRecord } from '../../proto/src/model.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { Keys } from '../../controller/src/store/keys.js';
import { ServiceApi } from '../../controller/src/api/services.js';
import { NodeApi } from '../../controller/src/api/nodes.js';
import { MemorySink } from '../../controller/src/events/events.js';
import { planWhatIf } from '../../controller/src/scheduler/what-if-plan.js';
import { GiB, MiB, T0, mockNode, mockService, mockTask } from './fixtures.js';

async function setup(nodes: NodeRecord[], tasks: TaskRecord[] = []) {
  const store = new MemoryStore();
  const keys = new Keys();
  const clock = new ManualClock(T0);
  const services = new ServiceApi({ store, keys, clock, events: new MemorySink() });
  const api = new NodeApi({ store, keys, clock, services });
  for (const n of nodes) await store.commit([{ op: 'create', key: keys.node(n.id), value: JSON.stringify(n) }]);
  for (const t of tasks) await store.commit([{ op: 'create', key: keys.task(t.id), value: JSON.stringify(t) }]);
  return { store, keys, api, services };
}

const web = (spec: Record<string, unknown>) =>
  JSON.stringify({
    apiVersion: 'berth.dev/v1',
    kind: 'Service',
    metadata: { name: 'web' },
    spec: { image: 'berth-local/busybox:1', ...spec },
  });

describe('NodeApi', () => {
  it("sets and removes operator labels; they override the agent's", async () => {
    const n1: NodeRecord = { ...mockNode('n1'), description: { ...mockNode('n1').description, labels: { zone: 'a', disk: 'hdd' } } };
    const { api } = await setup([n1]);
    const r = await api.label('n1', { zone: 'b', rack: '7' }, []);
    expect(r.value.labels).toEqual({ zone: 'b', rack: '7' });
    expect((await api.view(r)).labels).toEqual({ zone: 'b', rack: '7' });
    const r2 = await api.label('n1', {}, ['rack']);
    expect(r2.value.labels).toEqual({ zone: 'b' });
  });

  it('refuses bad labels and availabilities with the field named, storing nothing', async () => {
    const { api, store, keys } = await setup([mockNode('n1')]);
    const before = await store.get(keys.node('n1'));
    await expect(api.label('n1', { 'bad key': 'x' }, [])).rejects.toThrow(ValidationError);
    await expect(api.label('n1', { k: 'a\u0007b' }, [])).rejects.toThrow(
      /labels.k: values are at most 253 characters without control characters/,
    );
    await expect(api.setAvailability('n1', 'off')).rejects.toThrow(/availability: must be one of active, pause, drain; got "off"/);
    await expect(api.setAvailability('nope', 'drain')).rejects.toThrow(NotFoundError);
    expect(await store.get(keys.node('n1'))).toEqual(before);
  });

  it('sets availability conditionally: a stale expected revision is refused, a lost race retried', async () => {
    const { api, store, keys } = await setup([mockNode('n1')]);
    const cur = (await store.get(keys.node('n1')))!;
    await expect(api.label('n1', { a: '1' }, [], cur.modRevision + 99)).rejects.toThrow(ConflictError);
    // Someone else writes between our read and write: the API reads again and wins.
    const commit = store.commit.bind(store);
    let raced = false;
    store.commit = async (ops) => {
      if (!raced) {
        raced = true;
        const kv = (await store.get(keys.node('n1')))!;
        await commit([
          {
            op: 'update',
            key: keys.node('n1'),
            value: JSON.stringify({ ...(JSON.parse(kv.value) as NodeRecord), message: 'heartbeat' }),
            modRevision: kv.modRevision,
          },
        ]);
      }
      return commit(ops);
    };
    const r = await api.setAvailability('n1', 'drain');
    expect(r.value.availability).toBe('drain');
    expect(r.value.message).toBe('heartbeat');
  });

  it('plan: new service placed by the real scheduler, with headroom before and after and why not elsewhere', async () => {
    const small = { ...mockNode('n2', { memoryBytes: 128 * MiB }), labels: { zone: 'a' } };
    const { api } = await setup([
      { ...mockNode('n1', { memoryBytes: 1 * GiB }), labels: { zone: 'a' } },
      small,
      { ...mockNode('n3'), labels: { zone: 'b' } },
    ]);
    const p = await api.plan(
      [web({ replicas: 3, resources: { memory: '256Mi' }, placement: { constraints: ['node.labels.zone == a'] } })],
      0,
    );
    expect(p.services).toEqual([
      { namespace: 'default', name: 'web', result: 'created', desired: 3, start: 3, stop: 0, move: 0, unplaced: 0, reason: '' },
    ]);
    const n1 = p.nodes.find((n) => n.nodeId === 'n1')!;
    expect(n1.start.map((t) => t.slot).sort()).toEqual([1, 2, 3]);
    expect(n1.freeBefore.memoryBytes).toBe(1 * GiB);
    expect(n1.freeAfter.memoryBytes).toBe(1 * GiB - 3 * 256 * MiB);
    expect(p.nodes.find((n) => n.nodeId === 'n2')!.notChosen).toEqual([{ service: 'default/web', reason: 'memory short by 128Mi' }]);
    expect(p.nodes.find((n) => n.nodeId === 'n3')!.notChosen).toEqual([
      { service: 'default/web', reason: 'constraint node.labels.zone == a' },
    ]);
    // A fifth replica does not fit: unplaced with the summary reason.
    const q = await api.plan(
      [web({ replicas: 5, resources: { memory: '256Mi' }, placement: { constraints: ['node.labels.zone == a'] } })],
      0,
    );
    expect(q.services[0]).toMatchObject({
      desired: 5,
      start: 4,
      unplaced: 1,
      reason: '2 nodes: memory short by 128Mi; 1 node: constraint node.labels.zone == a',
    });
  });

  it('plan: a changed spec moves or replaces the running tasks; surplus ones stop; nothing is written', async () => {
    const svc = mockService({ replicas: 2 });
    const t1 = mockTask(svc, { slot: 1, nodeId: 'n1' });
    const t2 = mockTask(svc, { slot: 2, nodeId: 'n2' });
    const nodes = [
      { ...mockNode('n1'), labels: { zone: 'a' } },
      { ...mockNode('n2'), labels: { zone: 'b' } },
    ];
    const wi = planWhatIf({
      services: [
        {
          record: {
            ...svc,
            specRevision: 2,
            spec: { ...svc.spec, replicas: 1, placement: { strategy: 'spread', constraints: ['node.labels.zone == b'] } },
          },
          result: 'updated',
        },
      ],
      nodes,
      tasks: [t1, t2],
      nowMs: T0,
      seed: 0,
    });
    expect(wi.services[0]).toMatchObject({ desired: 1, start: 0, stop: 1, move: 1, unplaced: 0 });
    const n1 = wi.nodes.find((n) => n.nodeId === 'n1')!;
    const n2 = wi.nodes.find((n) => n.nodeId === 'n2')!;
    expect(n1.moveOut.map((t) => [t.slot, t.toNode])).toEqual([[1, 'n2']]);
    expect(n2.moveIn.map((t) => [t.slot, t.fromNode])).toEqual([[1, 'n1']]);
    expect(n2.stop.map((t) => t.slot)).toEqual([2]);
    const { api, store } = await setup(nodes, [t1, t2]);
    const rev = (await store.list('/')).revision;
    await api.plan([web({ replicas: 5 })], 0);
    expect((await store.list('/')).revision).toBe(rev);
  });

  it('plan: refuses an invalid manifest naming the field', async () => {
    const { api } = await setup([mockNode('n1')]);
    await expect(api.plan([web({ placement: { constraints: ['zone = a'] } })], 0)).rejects.toThrow(
      /spec.placement.constraints\[0\]: "zone = a" is not a constraint/,
    );
  });
});
