// ManageAPI logic on the memory store: diff is apply's dry run plus the stored record; scale is a
// spec change through apply (validated, a numbered revision with its cause, optimistic concurrency).
import { describe, expect, it } from 'vitest';
import { ServiceOps, manifestOf } from '../../controller/src/api/manage.js';
import { ServiceApi } from '../../controller/src/api/services.js';
import { MemorySink } from '../../controller/src/events/events.js';
import { Keys } from '../../controller/src/store/keys.js';
import { MemoryStore } from '../../controller/src/store/memory-store.js';
import { ManualClock } from '../../proto/src/clock.js';
import { ConflictError, FailedPreconditionError, NotFoundError, ValidationError } from '../../proto/src/errors.js';
import type { RevisionRecord } from '../../proto/src/model.js';
import { canonicalJson, validateServiceManifest } from '../../proto/src/spec/service.js';

const rich = {
  apiVersion: 'berth.dev/v1',
  kind: 'Service',
  metadata: { name: 'web', labels: { tier: 'front' } },
  spec: {
    image: 'berth-local/busybox:1',
    replicas: 2,
    command: ['httpd', '-f', '-p', '8080'],
    env: { A: '1', GREETING: 'hello world' },
    ports: [
      { containerPort: 8080, hostPort: 18080 },
      { containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
    ],
    resources: { cpu: 0.25, memory: '64Mi', limits: { cpu: 0.5, memory: 100_000_000 } },
    stop: { signal: 'SIGINT', gracePeriod: '1500ms' },
  },
};

function setup() {
  const store = new MemoryStore();
  const keys = new Keys();
  const api = new ServiceApi({ store, keys, clock: new ManualClock(), events: new MemorySink() });
  return { store, keys, api, ops: new ServiceOps(api) };
}

describe('ServiceOps.diff', () => {
  it('a new service: created, nothing stored, nothing written', async () => {
    const { store, keys, ops } = setup();
    const d = await ops.diff(rich);
    expect(d.result).toBe('created');
    expect(d.stored).toBeUndefined();
    expect(d.proposed.value.spec.replicas).toBe(2);
    expect((await store.list(keys.prefix)).items).toHaveLength(0);
  });

  it('unchanged and updated answer with the stored record they compared against', async () => {
    const { api, ops } = setup();
    const applied = await api.apply(rich);
    const same = await ops.diff(rich);
    expect(same.result).toBe('unchanged');
    expect(same.stored?.modRevision).toBe(applied.service.modRevision);
    const changed = await ops.diff({ ...rich, spec: { ...rich.spec, replicas: 5 } });
    expect(changed.result).toBe('updated');
    expect(changed.stored?.value.spec.replicas).toBe(2);
    expect(changed.proposed.value.spec.replicas).toBe(5);
    expect(changed.proposed.value.specRevision).toBe(2);
    expect((await api.get('default', 'web')).modRevision).toBe(applied.service.modRevision);
  });

  it('refuses invalid manifests with every issue, like apply', async () => {
    const { ops } = setup();
    await expect(ops.diff({ ...rich, spec: { ...rich.spec, replicas: -1, colour: 'blue' } })).rejects.toThrow(ValidationError);
    await expect(ops.diff({ ...rich, spec: { ...rich.spec, replicas: -1, colour: 'blue' } })).rejects.toThrow(
      /spec.colour: unknown field[\s\S]*spec.replicas: must be at least 0|spec.replicas: must be at least 0[\s\S]*spec.colour/,
    );
  });
});

describe('ServiceOps.scale', () => {
  it('changes only replicas, as a new revision whose cause says so', async () => {
    const { store, keys, api, ops } = setup();
    await api.apply(rich);
    const before = await api.get('default', 'web');
    const r = await ops.scale('default', 'web', 7);
    expect(r).toMatchObject({ result: 'updated', previousReplicas: 2 });
    expect(r.service.value.specRevision).toBe(2);
    expect(canonicalJson({ ...r.service.value.spec, replicas: 2 })).toBe(canonicalJson(before.value.spec));
    expect(r.service.value.meta.labels).toEqual({ tier: 'front' });
    const rev = JSON.parse((await store.get(keys.revision('default', 'web', 2)))!.value) as RevisionRecord;
    expect(rev.cause).toBe('scale 2 → 7');
    expect(rev.spec.replicas).toBe(7);
  });

  it('the same count writes nothing', async () => {
    const { api, ops } = setup();
    await api.apply(rich);
    const before = await api.get('default', 'web');
    const r = await ops.scale('default', 'web', 2);
    expect(r.result).toBe('unchanged');
    expect((await api.get('default', 'web')).modRevision).toBe(before.modRevision);
  });

  it('a stale expected revision is a conflict naming the current one; the right one applies', async () => {
    const { api, ops } = setup();
    const { service } = await api.apply(rich);
    await ops.scale('default', 'web', 3);
    const cur = await api.get('default', 'web');
    const err = await ops.scale('default', 'web', 4, service.modRevision).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).currentRevision).toBe(cur.modRevision);
    expect((await ops.scale('default', 'web', 4, cur.modRevision)).service.value.spec.replicas).toBe(4);
  });

  it('refuses out-of-range counts with the field named, unknown and deleting services', async () => {
    const { api, ops } = setup();
    await api.apply(rich);
    await expect(ops.scale('default', 'web', 10_001)).rejects.toThrow(/spec.replicas: must be at most 10000/);
    await expect(ops.scale('default', 'nope', 1)).rejects.toThrow(NotFoundError);
    await api.delete('default', 'web');
    await expect(ops.scale('default', 'web', 1)).rejects.toThrow(FailedPreconditionError);
  });

  it('without an expected revision it retries a lost race itself', async () => {
    const { store, api, ops } = setup();
    await api.apply(rich);
    let conflicts = 0;
    const commit = store.commit.bind(store);
    store.commit = async (op) =>
      commit(op).catch((e: unknown) => {
        if (e instanceof ConflictError) conflicts++;
        throw e;
      });
    // Every scale races every other: each still lands, in some order, with no error.
    const results = await Promise.all([3, 4, 5, 6].map((n) => ops.scale('default', 'web', n)));
    expect(results.every((r) => r.result === 'updated')).toBe(true);
    const final = await api.get('default', 'web');
    expect(final.value.specRevision).toBe(5);
    expect(conflicts).toBeGreaterThan(0); // the races did happen
  });
});

describe('manifestOf', () => {
  it('round-trips every field of a stored spec', async () => {
    const { api } = setup();
    const { service } = await api.apply(rich);
    const v = validateServiceManifest(manifestOf(service.value));
    expect(v.ok && canonicalJson(v.value.spec)).toBe(canonicalJson(service.value.spec));
  });
});

describe('ServiceApi.apply createOnly', () => {
  it('creates a service that does not exist; refuses (ABORTED) and writes nothing when it does', async () => {
    const { store, keys, api } = setup();
    const first = await api.apply(rich, { createOnly: true });
    expect(first.result).toBe('created');
    const before = await store.get(keys.service('default', first.service.value.meta.name));
    const changed = { ...rich, spec: { ...rich.spec, replicas: 5 } };
    await expect(api.apply(changed, { createOnly: true })).rejects.toBeInstanceOf(ConflictError);
    const after = await store.get(keys.service('default', first.service.value.meta.name));
    expect(after?.modRevision).toBe(before?.modRevision);
    expect((JSON.parse(after!.value) as { spec: { replicas: number } }).spec.replicas).toBe(2);
  });
});
