// The grants of a namespace's stored Policies, merged: what ServiceApi.apply checks a spec with.
import { mergeGrants, type PolicyGrants } from '../../../proto/src/security/workload-policy.js';
import type { Keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { policyCodec } from '../store/codecs.js';

/** Grants of a namespace from its stored policies (a prefix read). */
export async function namespaceGrants(store: Pick<Store, 'list'>, keys: Keys, namespace: string): Promise<PolicyGrants> {
  const { items } = await store.list(`${keys.policies}${namespace}/`);
  return mergeGrants(items.map((kv) => policyCodec.decode(kv)).map((p) => ({ name: p.meta.name, spec: p.spec })));
}
