// What a namespace's stored Policies say, for ServiceApi.apply and SecretApi.apply: the grants
// (merged) a spec is checked with, the quotas its use is held to, and the write that serializes
// changes of a namespace with quotas (a condition on its usage key).
import { mergeGrants, type PolicyGrants } from '../../../proto/src/security/workload-policy.js';
import type { QuotaSpec } from '../../../proto/src/spec/policy.js';
import type { Keys } from '../store/keys.js';
import type { Store, WriteOp } from '../store/store.js';
import { policyCodec } from '../store/codecs.js';

export interface NamespaceRules {
  grants: PolicyGrants;
  quotas: Array<{ policy: string; quota: QuotaSpec }>;
}

/** The rules of a namespace from its stored policies (a prefix read). */
export async function namespaceRules(store: Pick<Store, 'list'>, keys: Keys, namespace: string): Promise<NamespaceRules> {
  const { items } = await store.list(`${keys.policies}${namespace}/`);
  const policies = items.map((kv) => policyCodec.decode(kv));
  return {
    grants: mergeGrants(policies.map((p) => ({ name: p.meta.name, spec: p.spec }))),
    quotas: policies.flatMap((p) => (p.spec.quota ? [{ policy: p.meta.name, quota: p.spec.quota }] : [])),
  };
}

/**
 * The op that makes a change of a namespace with quotas conflict with any other such change
 * committed since `read` (the usage key's state when its use was counted): read it first.
 */
export async function usageGuard(store: Pick<Store, 'get'>, keys: Keys, namespace: string, nowMs: number): Promise<WriteOp> {
  const key = keys.namespaceUsage(namespace);
  const cur = await store.get(key);
  const value = JSON.stringify({ changedAtMs: nowMs });
  return cur ? { op: 'update', key, value, modRevision: cur.modRevision } : { op: 'create', key, value };
}
