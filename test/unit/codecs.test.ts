import { describe, expect, it } from 'vitest';
import {
  deepFreeze,
  decodeVersioned,
  leaderCodec,
  memberCodec,
  nodeCodec,
  RecordDecodeError,
  registryCredentialCodec,
  revisionCodec,
  rolloutCodec,
  secretCodec,
  serviceCodec,
  taskCodec,
  type Codec,
} from '../../controller/src/store/codecs.js';
import { createOp, deleteOp, MAX_OPS_PER_TXN, putOp, updateOp, upsertOp } from '../../controller/src/store/ops.js';
import { ClusterCache } from '../../controller/src/store/cluster.js';
import { Keys } from '../../controller/src/store/keys.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { eventCodec } from '../../controller/src/events/events.js';
import { rollbackRecord } from '../../controller/src/store/revisions.js';
import type { RevisionRecord, SecretRecord } from '../../proto/src/model.js';
import { silentLogger } from '../../proto/src/log.js';
import { mockNode, mockService, mockTask, T0 } from './fixtures.js';

const svc = mockService({ replicas: 3 });
const revision: RevisionRecord = {
  namespace: 'default',
  name: 'web',
  specRevision: 2,
  spec: svc.spec,
  labels: { a: 'b' },
  createdAtMs: T0,
  cause: 'apply',
};
const secret: SecretRecord = {
  meta: svc.meta,
  keys: [{ name: 'pw', sizeBytes: 3 }],
  version: 1,
  sealed: { alg: 'aes-256-gcm', keyId: '0123456789abcdef', iv: 'aXY=', tag: 'dGFn', ciphertext: 'Y3Q=' },
};

/** A codec with one of its records (typed together, then erased for the table). */
const of = <T>(codec: Codec<T>, record: T): [Codec<unknown>, unknown] => [codec, record];

/** One well-formed record of every kind. */
const good: Array<[Codec<unknown>, unknown]> = [
  of(serviceCodec, { ...svc, restartGeneration: 2 }),
  of(revisionCodec, revision),
  of(taskCodec, {
    ...mockTask(svc, { status: { ports: [{ containerPort: 80, hostPort: 8080, protocol: 'tcp', hostIp: '' }], restarts: 1 } }),
    avoidNodes: ['n2'],
    priorFailures: 1,
  }),
  of(nodeCodec, { ...mockNode('n1'), lastContactMs: T0, unavailablePorts: [] }),
  of(rolloutCodec, { ...rollbackRecord(svc, 2, 1, 'unhealthy', T0), progressMark: { updated: 1, outdated: 2 } }),
  of(secretCodec, secret),
  of(registryCredentialCodec, {
    namespace: 'default',
    name: 'reg',
    server: 'registry.example.com',
    username: 'u',
    password: 'p',
    updatedAtMs: T0,
  }),
  of(memberCodec, { id: 'c1', apiAddress: '127.0.0.1:7000', metricsAddress: '', startedAtMs: T0 }),
  of(leaderCodec, { id: 'c1', address: '127.0.0.1:7000', incarnation: 'abc' }),
  of(eventCodec, { type: 'task.state', namespace: 'default', service: 'web', slot: 1, state: 'running', message: 'm' }),
];

function decodeError<T>(codec: Codec<T>, value: string, key = '/berth/v1/x'): RecordDecodeError {
  try {
    codec.decode({ key, value });
  } catch (err) {
    expect(err).toBeInstanceOf(RecordDecodeError);
    return err as RecordDecodeError;
  }
  throw new Error(`${codec.kind}: ${value} decoded`);
}

describe('record codecs', () => {
  it.each(good.map(([c, r]) => [c.kind, c, r] as const))('a good %s record round-trips', (_kind, codec, record) => {
    const text = codec.encode(record);
    expect(text).toBe(JSON.stringify(record));
    expect(codec.decode({ key: '/berth/v1/k', value: text })).toEqual(record);
  });

  it('a record missing a required field names the key, the kind and the field', () => {
    const { status: _status, ...noStatus } = mockTask(svc);
    const err = decodeError(taskCodec, JSON.stringify(noStatus), '/berth/v1/tasks/t1');
    expect(err.key).toBe('/berth/v1/tasks/t1');
    expect(err.kind).toBe('task');
    expect(err.field).toBe('status');
    expect(err.message).toBe('task record at /berth/v1/tasks/t1: status: expected an object, got undefined');
  });

  it('a nested field of the wrong type is named by its path', () => {
    const n = mockNode('n1');
    const bad = { ...n, description: { ...n.description, capacity: { ...n.description.capacity, memoryBytes: '8Gi' } } };
    const err = decodeError(nodeCodec, JSON.stringify(bad), '/berth/v1/nodes/n1');
    expect(err.field).toBe('description.capacity.memoryBytes');
    expect(err.message).toBe('node record at /berth/v1/nodes/n1: description.capacity.memoryBytes: expected a number, got string');
  });

  it('a missing scalar says what was expected', () => {
    const { deleting: _d, ...rest } = svc;
    expect(decodeError(serviceCodec, JSON.stringify(rest)).message).toBe(
      'service record at /berth/v1/x: deleting: missing (expected a boolean)',
    );
    expect(decodeError(serviceCodec, JSON.stringify({ ...svc, meta: { ...svc.meta, uid: null } })).field).toBe('meta.uid');
    expect(decodeError(serviceCodec, JSON.stringify({ ...svc, spec: { ...svc.spec, image: 7 } })).field).toBe('spec.image');
  });

  it('an optional field is checked when present', () => {
    expect(decodeError(serviceCodec, JSON.stringify({ ...svc, restartGeneration: '2' })).field).toBe('restartGeneration');
    expect(decodeError(taskCodec, JSON.stringify({ ...mockTask(svc), avoidNodes: 'n2' })).message).toContain(
      'avoidNodes: expected an array, got string',
    );
    expect(decodeError(rolloutCodec, JSON.stringify({ ...rollbackRecord(svc, 2, 1, 'x', T0), failedSlots: {} })).field).toBe('failedSlots');
  });

  it('a value that is not JSON, or not an object, fails naming the key', () => {
    const notJson = decodeError(secretCodec, '{not json', '/berth/v1/secrets/default/db');
    expect(notJson.field).toBe('');
    expect(notJson.message).toMatch(/^secret record at \/berth\/v1\/secrets\/default\/db: not JSON \(/);
    expect(decodeError(memberCodec, '[1,2]').message).toBe('member record at /berth/v1/x: expected an object, got array');
    expect(decodeError(leaderCodec, 'null').message).toBe('leader record at /berth/v1/x: expected an object, got null');
  });

  it('fields it does not check are kept (a newer version may add them)', () => {
    const value = JSON.stringify({ ...mockNode('n1'), futureField: { x: 1 } });
    expect(nodeCodec.decode({ key: 'k', value })).toMatchObject({ futureField: { x: 1 } });
  });

  it('decodeVersioned keeps the revisions of the read', () => {
    const v = decodeVersioned(serviceCodec, { key: 'k', value: JSON.stringify(svc), modRevision: 7, createRevision: 3 });
    expect(v).toEqual({ value: svc, modRevision: 7, createRevision: 3 });
  });
});

describe('op builders', () => {
  it('encode with the codec and carry their condition', () => {
    const text = JSON.stringify(svc);
    expect(createOp('k', serviceCodec, svc)).toEqual({ op: 'create', key: 'k', value: text });
    expect(updateOp('k', serviceCodec, svc, 5)).toEqual({ op: 'update', key: 'k', value: text, modRevision: 5 });
    expect(upsertOp('k', serviceCodec, svc, undefined)).toEqual({ op: 'create', key: 'k', value: text });
    expect(upsertOp('k', serviceCodec, svc, { modRevision: 9 })).toEqual({ op: 'update', key: 'k', value: text, modRevision: 9 });
    expect(putOp('k', serviceCodec, svc)).toEqual({ op: 'put', key: 'k', value: text });
    expect(deleteOp('k')).toEqual({ op: 'delete', key: 'k' });
    expect(deleteOp('k', 4)).toEqual({ op: 'delete', key: 'k', modRevision: 4 });
  });

  it('one transaction limit, below etcd default of 128 with room for the fencing check', () => {
    expect(MAX_OPS_PER_TXN + 1).toBeLessThanOrEqual(128);
  });

  it('upsert against the store: creates when absent, conflicts when the record moved', async () => {
    const store = new MemoryStore();
    const r1 = await store.commit([upsertOp('/k', serviceCodec, svc, undefined)]);
    await expect(store.commit([upsertOp('/k', serviceCodec, svc, undefined)])).rejects.toThrow(/conflict on \/k/);
    const r2 = await store.commit([upsertOp('/k', serviceCodec, { ...svc, specRevision: 2 }, { modRevision: r1 })]);
    await expect(store.commit([upsertOp('/k', serviceCodec, svc, { modRevision: r1 })])).rejects.toThrow(/conflict on \/k/);
    expect(serviceCodec.decode((await store.get('/k'))!).specRevision).toBe(2);
    expect((await store.get('/k'))!.modRevision).toBe(r2);
  });
});

describe('cached records', () => {
  it('deepFreeze freezes everything reachable', () => {
    const t = deepFreeze(mockTask(svc));
    expect(Object.isFrozen(t)).toBe(true);
    expect(Object.isFrozen(t.status)).toBe(true);
    expect(Object.isFrozen(t.spec.resources)).toBe(true);
    expect(deepFreeze('text')).toBe('text');
  });

  it('the cluster cache holds frozen records and skips one it cannot decode', async () => {
    const store = new MemoryStore();
    const keys = new Keys();
    const t = mockTask(svc);
    const { nodeId: _n, ...broken } = mockTask(svc, { slot: 2 });
    await store.commit([
      createOp(keys.task(t.id), taskCodec, t),
      { op: 'create', key: keys.task('broken'), value: JSON.stringify(broken) },
      createOp(keys.service('default', 'web'), serviceCodec, svc),
    ]);
    const cache = new ClusterCache(store, keys, silentLogger());
    const ac = new AbortController();
    const running = cache.start(ac.signal);
    await cache.synced;
    expect(cache.tasks.keys()).toEqual([keys.task(t.id)]);
    const cached = cache.tasks.get(keys.task(t.id))!;
    expect(cached.value).toEqual(t);
    expect(Object.isFrozen(cached)).toBe(true);
    expect(() => {
      (cached.value.status as { state: string }).state = 'failed';
    }).toThrow(TypeError);
    expect(Object.isFrozen(cache.service('default', 'web')!.value.spec)).toBe(true);
    ac.abort();
    await running;
  });
});
