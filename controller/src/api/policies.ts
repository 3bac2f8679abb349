// The workload Policy API's logic, free of gRPC: apply (create-or-update; unchanged input writes
// nothing), get, list and delete, and the grants of a namespace that ServiceApi.apply and the
// dispatcher use. Changes are admin-only (authz.ts); a deleted policy does not stop what runs.
import type { Clock } from '../../../proto/src/clock.js';
import { ConflictError, NotFoundError, ValidationError } from '../../../proto/src/errors.js';
import type { PolicyRecord, Versioned } from '../../../proto/src/model.js';
import { validatePolicyManifest } from '../../../proto/src/spec/policy.js';
import { canonicalJson } from '../../../proto/src/spec/service.js';
import type { Keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { decodeVersioned, policyCodec } from '../store/codecs.js';
import { createOp, deleteOp, updateOp } from '../store/ops.js';
import { newUid, sameLabels } from './services.js';

export type PolicyApplyResult = 'created' | 'updated' | 'unchanged';

export class PolicyApi {
  constructor(private readonly deps: { store: Store; keys: Keys; clock: Clock }) {}

  async apply(
    doc: unknown,
    opts: { expectedRevision?: number; dryRun?: boolean } = {},
  ): Promise<{ policy: Versioned<PolicyRecord>; result: PolicyApplyResult }> {
    const { store, keys, clock } = this.deps;
    const v = validatePolicyManifest(doc);
    if (!v.ok) throw new ValidationError(v.issues);
    const { metadata, spec } = v.value;
    const labels = metadata.labels ?? {};
    const key = keys.policy(metadata.namespace, metadata.name);
    const cur = await store.get(key);
    if (opts.expectedRevision && (cur?.modRevision ?? 0) !== opts.expectedRevision)
      throw new ConflictError(
        `policy ${metadata.namespace}/${metadata.name} changed since revision ${opts.expectedRevision}`,
        [key],
        cur?.modRevision ?? 0,
      );
    const now = clock.now();
    if (!cur) {
      const record: PolicyRecord = {
        meta: { name: metadata.name, namespace: metadata.namespace, labels, uid: newUid(), createdAtMs: now, updatedAtMs: now },
        spec,
      };
      if (opts.dryRun) return { policy: { value: record, modRevision: 0, createRevision: 0 }, result: 'created' };
      const r = await store.commit([createOp(key, policyCodec, record)]);
      return { policy: { value: record, modRevision: r, createRevision: r }, result: 'created' };
    }
    const old = decodeVersioned(policyCodec, cur);
    if (canonicalJson(old.value.spec) === canonicalJson(spec) && sameLabels(labels, old.value.meta.labels))
      return { policy: old, result: 'unchanged' };
    const record: PolicyRecord = { meta: { ...old.value.meta, labels, updatedAtMs: now }, spec };
    if (opts.dryRun) return { policy: { ...old, value: record }, result: 'updated' };
    const r = await store.commit([updateOp(key, policyCodec, record, cur.modRevision)]);
    return { policy: { value: record, modRevision: r, createRevision: old.createRevision }, result: 'updated' };
  }

  async get(namespace: string, name: string): Promise<Versioned<PolicyRecord>> {
    const kv = await this.deps.store.get(this.deps.keys.policy(namespace, name));
    if (!kv) throw new NotFoundError(`policy ${namespace}/${name}`);
    return decodeVersioned(policyCodec, kv);
  }

  async list(namespace?: string): Promise<Array<Versioned<PolicyRecord>>> {
    const { keys } = this.deps;
    const { items } = await this.deps.store.list(namespace ? `${keys.policies}${namespace}/` : keys.policies);
    return items.map((kv) => decodeVersioned(policyCodec, kv));
  }

  async delete(namespace: string, name: string, expectedRevision?: number): Promise<Versioned<PolicyRecord>> {
    const cur = await this.get(namespace, name);
    if (expectedRevision && expectedRevision !== cur.modRevision)
      throw new ConflictError(
        `policy ${namespace}/${name} changed since revision ${expectedRevision}`,
        [this.deps.keys.policy(namespace, name)],
        cur.modRevision,
      );
    await this.deps.store.commit([deleteOp(this.deps.keys.policy(namespace, name), cur.modRevision)]);
    return cur;
  }
}
