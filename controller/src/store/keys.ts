// The etcd key layout. The only file that knows it.
export const DEFAULT_PREFIX = '/berth/v1/';

export class Keys {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {}

  get services(): string {
    return `${this.prefix}services/`;
  }
  service(namespace: string, name: string): string {
    return `${this.services}${namespace}/${name}`;
  }
  revisions(namespace: string, name: string): string {
    return `${this.prefix}revisions/${namespace}/${name}/`;
  }
  /** Zero-padded so that keys sort in revision order. */
  revision(namespace: string, name: string, n: number): string {
    return `${this.revisions(namespace, name)}${String(n).padStart(10, '0')}`;
  }
  get tasks(): string {
    return `${this.prefix}tasks/`;
  }
  task(id: string): string {
    return `${this.tasks}${id}`;
  }
  get nodes(): string {
    return `${this.prefix}nodes/`;
  }
  node(id: string): string {
    return `${this.nodes}${id}`;
  }
  get policies(): string {
    return `${this.prefix}policies/`;
  }
  policy(namespace: string, name: string): string {
    return `${this.policies}${namespace}/${name}`;
  }
  /** Bumped by every change of a namespace that has quotas: concurrent changes conflict instead of both passing the check. */
  namespaceUsage(namespace: string): string {
    return `${this.prefix}namespaces/${namespace}/usage`;
  }
  get secrets(): string {
    return `${this.prefix}secrets/`;
  }
  secret(namespace: string, name: string): string {
    return `${this.secrets}${namespace}/${name}`;
  }
  get rollouts(): string {
    return `${this.prefix}rollouts/`;
  }
  /** The rollout record of a service (state of its newest rolling update). */
  rollout(namespace: string, name: string): string {
    return `${this.rollouts}${namespace}/${name}`;
  }
  get registryCredentials(): string {
    return `${this.prefix}registrycredentials/`;
  }
  registryCredential(namespace: string, name: string): string {
    return `${this.registryCredentials}${namespace}/${name}`;
  }
  /** Live controllers (lease-bound records), for service discovery. */
  get members(): string {
    return `${this.prefix}members/`;
  }
  member(id: string): string {
    return `${this.members}${id}`;
  }
  /** The cluster CA: its certificate and its key sealed with the key-encryption key. */
  get ca(): string {
    return `${this.prefix}security/ca`;
  }
  get tokens(): string {
    return `${this.prefix}security/tokens/`;
  }
  token(id: string): string {
    return `${this.tokens}${id}`;
  }
  /** Certificates issued to a node (serial → expiry), revoked when the node is removed. */
  nodeCerts(nodeId: string): string {
    return `${this.prefix}security/nodecerts/${nodeId}/`;
  }
  nodeCert(nodeId: string, serial: string): string {
    return `${this.nodeCerts(nodeId)}${serial}`;
  }
  get revokedCerts(): string {
    return `${this.prefix}security/revoked/`;
  }
  revokedCert(serial: string): string {
    return `${this.revokedCerts}${serial}`;
  }
  /** The audit log: one record per mutating call or exec, keyed by time (controller/src/audit). */
  get audit(): string {
    return `${this.prefix}audit/`;
  }
  /** Zero-padded milliseconds first, so that keys sort in time order. */
  auditRecord(timeMs: number, suffix: string): string {
    return `${this.audit}${String(Math.max(0, Math.floor(timeMs))).padStart(15, '0')}-${suffix}`;
  }
  get leader(): string {
    return `${this.prefix}leader`;
  }

  /** namespace/name of a service key, or undefined if the key is not one. */
  parseService(key: string): { namespace: string; name: string } | undefined {
    if (!key.startsWith(this.services)) return undefined;
    const [namespace, name, ...rest] = key.slice(this.services.length).split('/');
    if (!namespace || !name || rest.length > 0) return undefined;
    return { namespace, name };
  }
  parseTask(key: string): string | undefined {
    return key.startsWith(this.tasks) ? key.slice(this.tasks.length) : undefined;
  }
  parseNode(key: string): string | undefined {
    return key.startsWith(this.nodes) ? key.slice(this.nodes.length) : undefined;
  }
}
