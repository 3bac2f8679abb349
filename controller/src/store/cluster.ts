// The controller's shared caches: one informer per object kind, with the indexes the loops use.
import type { Logger } from '../../../proto/src/log.js';
import type { NodeRecord, PolicyRecord, ServiceRecord, TaskRecord } from '../../../proto/src/model.js';
import type { RegistryCredentialRecord, RolloutRecord } from '../../../proto/src/lifecycle-model.js';
import { serviceKey } from '../model/task-identity.js';
import { Informer } from './informer.js';
import { mergeGrants, type PolicyGrants } from '../../../proto/src/security/workload-policy.js';
import type { Keys } from './keys.js';
import type { Store } from './store.js';
import { nodeCodec, policyCodec, registryCredentialCodec, rolloutCodec, serviceCodec, taskCodec } from './codecs.js';

export class ClusterCache {
  readonly services: Informer<ServiceRecord>;
  readonly tasks: Informer<TaskRecord>;
  readonly nodes: Informer<NodeRecord>;
  readonly rollouts: Informer<RolloutRecord>;
  readonly registryCredentials: Informer<RegistryCredentialRecord>;
  readonly policies: Informer<PolicyRecord>;

  constructor(
    readonly store: Store,
    readonly keys: Keys,
    log: Logger,
  ) {
    this.services = new Informer<ServiceRecord>(
      store,
      keys.services,
      (kv) => serviceCodec.decode(kv),
      log.child({ loop: 'informer', kind: 'service' }),
    );
    this.tasks = new Informer<TaskRecord>(store, keys.tasks, (kv) => taskCodec.decode(kv), log.child({ loop: 'informer', kind: 'task' }));
    this.nodes = new Informer<NodeRecord>(store, keys.nodes, (kv) => nodeCodec.decode(kv), log.child({ loop: 'informer', kind: 'node' }));
    this.rollouts = new Informer<RolloutRecord>(
      store,
      keys.rollouts,
      (kv) => rolloutCodec.decode(kv),
      log.child({ loop: 'informer', kind: 'rollout' }),
    );
    this.registryCredentials = new Informer<RegistryCredentialRecord>(
      store,
      keys.registryCredentials,
      (kv) => registryCredentialCodec.decode(kv),
      log.child({ loop: 'informer', kind: 'registrycredential' }),
    );
    this.policies = new Informer<PolicyRecord>(
      store,
      keys.policies,
      (kv) => policyCodec.decode(kv),
      log.child({ loop: 'informer', kind: 'policy' }),
    );
    this.policies.addIndex('namespace', (p) => [p.meta.namespace]);
    this.tasks.addIndex('service', (t) => [serviceKey(t.namespace, t.service)]);
    this.tasks.addIndex('node', (t) => (t.nodeId ? [t.nodeId] : []));
    this.tasks.addIndex('unassigned', (t) => (t.nodeId === '' && t.desiredState === 'running' ? ['yes'] : []));
  }

  /** The same caches, writing through another store (the leader's fenced one). */
  withStore(store: Store): ClusterCache {
    const view = Object.create(this) as ClusterCache;
    Object.defineProperty(view, 'store', { value: store });
    return view;
  }

  async start(signal: AbortSignal): Promise<void> {
    await Promise.all([
      this.services.start(signal),
      this.tasks.start(signal),
      this.nodes.start(signal),
      this.rollouts.start(signal),
      this.registryCredentials.start(signal),
      this.policies.start(signal),
    ]);
  }

  /** Every informer lists again; resolves when all hold their new listing. */
  refresh(): Promise<void> {
    return Promise.all([
      this.services.refresh(),
      this.tasks.refresh(),
      this.nodes.refresh(),
      this.rollouts.refresh(),
      this.registryCredentials.refresh(),
      this.policies.refresh(),
    ]).then(() => undefined);
  }

  get synced(): Promise<void> {
    return Promise.all([
      this.services.synced,
      this.tasks.synced,
      this.nodes.synced,
      this.rollouts.synced,
      this.registryCredentials.synced,
      this.policies.synced,
    ]).then(() => undefined);
  }

  service(namespace: string, name: string) {
    return this.services.get(this.keys.service(namespace, name));
  }

  tasksOfService(namespace: string, name: string) {
    return this.tasks.byIndex('service', serviceKey(namespace, name));
  }

  rollout(namespace: string, name: string) {
    return this.rollouts.get(this.keys.rollout(namespace, name));
  }

  /** What the Policies of a namespace allow, merged. */
  grantsOf(namespace: string): PolicyGrants {
    return mergeGrants(this.policies.byIndex('namespace', namespace).map((p) => ({ name: p.value.meta.name, spec: p.value.spec })));
  }

  tasksOfNode(nodeId: string) {
    return this.tasks.byIndex('node', nodeId);
  }
}
