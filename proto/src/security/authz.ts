// Who may call what: one rule per RPC of every Berth service, and the decision for an identity.
// Pure (no I/O): the gRPC guard (proto/src/security/guard.ts) reads the caller's identity from its
// verified certificate and the namespace from the request, then asks decide().
//
// Operators' roles:
//   admin     everything;
//   deployer  reads, writes (apply, delete, scale, rollouts, secrets, registry credentials) and
//             exec in its namespaces;
//   viewer    reads in its namespaces (no exec; secrets show names and keys, never values, for
//             every role: no API returns a value).
// A namespace-scoped role covers "every namespace" (a listing across namespaces) only with `*`.
// Cluster-scoped changes (node labels, availability, removal, join tokens, the audit log) are
// admin's. Agents may only open their own Dispatcher session and renew their certificate; the
// controllers only call agents' AgentAPI. Joining is the one call without an identity: the
// handler checks the token.
import type { Identity } from './identity.js';
import { describeIdentity } from './identity.js';

/** What a call does to the namespace it names. */
export type Verb = 'read' | 'write' | 'exec';

/** Where a call's namespace is: a request field, a manifest's metadata.namespace, or read by the handler (streams). */
export type NamespaceFrom =
  | { field: string; emptyMeansAll?: boolean }
  | { manifest: string }
  /** Several manifests (a plan): each one's namespace must be covered. */
  | { manifests: string }
  /** The handler learns it from the first stream message and asks the guard then. */
  | { later: true };

export type Rule =
  /** No identity needed (the handler authenticates otherwise: a join token). */
  | { who: 'anyone' }
  /** Any identity the cluster CA issued (certificate renewal). */
  | { who: 'authenticated' }
  /** An agent, for itself only (the handler checks the node id against the identity). */
  | { who: 'agent' }
  /** A controller (the AgentAPI of agents). */
  | { who: 'controller' }
  /** Operators: facts about the cluster every role may read (nodes, version). */
  | { who: 'operator'; scope: 'cluster-read' }
  /** Operators: changes to the cluster as a whole. */
  | { who: 'operator'; scope: 'admin' }
  | { who: 'operator'; verb: Verb; namespace: NamespaceFrom };

const read = (namespace: NamespaceFrom): Rule => ({ who: 'operator', verb: 'read', namespace });
const write = (namespace: NamespaceFrom): Rule => ({ who: 'operator', verb: 'write', namespace });
const ns: NamespaceFrom = { field: 'namespace' };
const nsOrAll: NamespaceFrom = { field: 'namespace', emptyMeansAll: true };
const admin: Rule = { who: 'operator', scope: 'admin' };
const clusterRead: Rule = { who: 'operator', scope: 'cluster-read' };

/** Every RPC of every service: "Service.Method" → rule. A method without one is refused at start-up. */
export const RULES: Readonly<Record<string, Rule>> = {
  'ControlAPI.ApplyService': write({ manifest: 'manifestJson' }),
  'ControlAPI.GetService': read(ns),
  'ControlAPI.ListServices': read(nsOrAll),
  'ControlAPI.DeleteService': write(ns),
  'ControlAPI.ListTasks': read(nsOrAll),
  'ControlAPI.ListNodes': clusterRead,

  'Dispatcher.Session': { who: 'agent' },

  'ManageAPI.DiffService': read({ manifest: 'manifestJson' }),
  'ManageAPI.ScaleService': write(ns),
  'ManageAPI.GetVersion': clusterRead,

  'NodeAPI.LabelNode': admin,
  'NodeAPI.SetAvailability': admin,
  'NodeAPI.RemoveNode': admin,
  // Runs the scheduler on the manifests: a read of each one's namespace.
  'NodeAPI.Plan': read({ manifests: 'manifestsJson' }),

  'ObserveAPI.Events': read(nsOrAll),
  'ObserveAPI.Logs': read(ns),
  'ObserveAPI.Exec': { who: 'operator', verb: 'exec', namespace: { later: true } },
  'ObserveAPI.Top': read(nsOrAll),

  'AgentAPI.Logs': { who: 'controller' },
  'AgentAPI.Exec': { who: 'controller' },
  'AgentAPI.Stats': { who: 'controller' },

  'RolloutAPI.GetRollout': read(ns),
  'RolloutAPI.WatchRollout': read(ns),
  'RolloutAPI.WatchService': read(ns),
  'RolloutAPI.ListRevisions': read(ns),
  'RolloutAPI.UndoRollout': write(ns),
  'RolloutAPI.RestartRollout': write(ns),
  'RolloutAPI.PauseRollout': write(ns),
  'RolloutAPI.ResumeRollout': write(ns),
  'RolloutAPI.SetRegistryCredential': write(ns),
  'RolloutAPI.ListRegistryCredentials': read(nsOrAll),
  'RolloutAPI.DeleteRegistryCredential': write(ns),

  'SecretAPI.ApplySecret': write({ manifest: 'manifestJson' }),
  'SecretAPI.GetSecret': read(ns),
  'SecretAPI.ListSecrets': read(nsOrAll),
  'SecretAPI.DeleteSecret': write(ns),

  // Exceptions to the workload baseline: changing them is admin's; readers of the namespace may see them.
  'PolicyAPI.ApplyPolicy': admin,
  'PolicyAPI.GetPolicy': read(ns),
  'PolicyAPI.ListPolicies': read(nsOrAll),
  'PolicyAPI.DeletePolicy': admin,

  'CertificateAPI.Join': { who: 'anyone' },
  'CertificateAPI.Renew': { who: 'authenticated' },
  'CertificateAPI.RevokeCertificate': admin,
  'TokenAPI.CreateToken': admin,
  'TokenAPI.ListTokens': admin,
  'TokenAPI.RevokeToken': admin,
  'TokenAPI.RotateToken': admin,

  'AuditAPI.ListAudit': admin,
};

/**
 * Where an audited call names its object: a kind, and the request fields of its name and
 * namespace (or a manifest field, whose metadata says both). Only names are ever read.
 */
export interface AuditObject {
  kind: string;
  /** A request field holding a manifest (JSON): kind, metadata.name and metadata.namespace. */
  manifest?: string;
  /** Request field of the name. */
  name?: string;
  /** Response field path of the name (a token's id is known only once it is made). */
  nameFromResponse?: string;
  /** Request field of the namespace ("" means default); absent: a cluster object. */
  namespace?: string;
  /** A stream whose first message names the object (exec); the handler's messages tell. */
  stream?: true;
}

/**
 * The calls the audit log records (controller/src/audit): every call that changes state, and
 * exec. Every write and exec rule above, and every admin change, has an entry (a unit test checks
 * it). Not here: reads, and agents' Dispatcher sessions (status reports, not changes of intent).
 */
export const AUDITED: Readonly<Record<string, AuditObject>> = {
  'ControlAPI.ApplyService': { kind: 'Service', manifest: 'manifestJson' },
  'ControlAPI.DeleteService': { kind: 'Service', name: 'name', namespace: 'namespace' },
  'ManageAPI.ScaleService': { kind: 'Service', name: 'name', namespace: 'namespace' },
  'NodeAPI.LabelNode': { kind: 'Node', name: 'nodeId' },
  'NodeAPI.SetAvailability': { kind: 'Node', name: 'nodeId' },
  'NodeAPI.RemoveNode': { kind: 'Node', name: 'nodeId' },
  'ObserveAPI.Exec': { kind: 'Service', stream: true },
  'RolloutAPI.UndoRollout': { kind: 'Service', name: 'name', namespace: 'namespace' },
  'RolloutAPI.RestartRollout': { kind: 'Service', name: 'name', namespace: 'namespace' },
  'RolloutAPI.PauseRollout': { kind: 'Service', name: 'name', namespace: 'namespace' },
  'RolloutAPI.ResumeRollout': { kind: 'Service', name: 'name', namespace: 'namespace' },
  'RolloutAPI.SetRegistryCredential': { kind: 'RegistryCredential', name: 'name', namespace: 'namespace' },
  'RolloutAPI.DeleteRegistryCredential': { kind: 'RegistryCredential', name: 'name', namespace: 'namespace' },
  'SecretAPI.ApplySecret': { kind: 'Secret', manifest: 'manifestJson' },
  'SecretAPI.DeleteSecret': { kind: 'Secret', name: 'name', namespace: 'namespace' },
  'PolicyAPI.ApplyPolicy': { kind: 'Policy', manifest: 'manifestJson' },
  'PolicyAPI.DeletePolicy': { kind: 'Policy', name: 'name', namespace: 'namespace' },
  // The certificate issued, named by the identity it carries (the caller of a join has none yet).
  'CertificateAPI.Join': { kind: 'Certificate', nameFromResponse: 'identity' },
  'CertificateAPI.Renew': { kind: 'Certificate', nameFromResponse: 'identity' },
  'CertificateAPI.RevokeCertificate': { kind: 'Certificate', name: 'serial' },
  'TokenAPI.CreateToken': { kind: 'Token', nameFromResponse: 'token.id' },
  'TokenAPI.RevokeToken': { kind: 'Token', name: 'id' },
  'TokenAPI.RotateToken': { kind: 'Token', name: 'id' },
};

export type Decision = { ok: true } | { ok: false; code: 'UNAUTHENTICATED' | 'PERMISSION_DENIED'; message: string };

const ALLOW: Decision = { ok: true };
const unauthenticated = (): Decision => ({
  ok: false,
  code: 'UNAUTHENTICATED',
  message: 'no client certificate of this cluster: log in with a token (`berth login`) or use a context that holds a credential',
});
const denied = (message: string): Decision => ({ ok: false, code: 'PERMISSION_DENIED', message });

const VERBS_OF: Record<'admin' | 'deployer' | 'viewer', readonly Verb[]> = {
  admin: ['read', 'write', 'exec'],
  deployer: ['read', 'write', 'exec'],
  viewer: ['read'],
};

/** Whether an operator's namespaces cover `namespace` (undefined: every namespace). */
export function covers(namespaces: readonly string[], namespace: string | undefined): boolean {
  if (namespaces.includes('*')) return true;
  return namespace !== undefined && namespaces.includes(namespace);
}

/** For a rule whose namespace the handler reads later: decide all but the namespace now. */
export const NOT_YET = Symbol('namespace not read yet');

/**
 * The decision for `identity` calling `method` under `rule`, in `namespace` (undefined: every
 * namespace; only for rules that name one). Rules of kind `later` are decided with the namespace
 * the handler read.
 */
export function decide(method: string, rule: Rule, identity: Identity | undefined, namespace?: string | typeof NOT_YET): Decision {
  if (rule.who === 'anyone') return ALLOW;
  if (!identity) return unauthenticated();
  const who = describeIdentity(identity);
  switch (rule.who) {
    case 'authenticated':
      return ALLOW;
    case 'agent':
      return identity.kind === 'agent' ? ALLOW : denied(`${method} is for agents; you are ${who}`);
    case 'controller':
      return identity.kind === 'controller' ? ALLOW : denied(`${method} answers only the cluster's controllers; you are ${who}`);
    case 'operator':
      break;
  }
  if (identity.kind === 'controller' && 'scope' in rule && rule.scope === 'cluster-read') return ALLOW;
  if (identity.kind !== 'operator') return denied(`${method} is for operators; you are ${who}`);
  if ('scope' in rule) {
    if (rule.scope === 'cluster-read' || identity.role === 'admin') return ALLOW;
    return denied(`${method} changes the cluster as a whole and needs the admin role; you are ${who}`);
  }
  if (identity.role === 'admin') return ALLOW;
  if (!VERBS_OF[identity.role].includes(rule.verb))
    return denied(`${method} needs the deployer role (${rule.verb}) in the namespace; you are ${who}`);
  if (namespace === NOT_YET) return ALLOW;
  if (!covers(identity.namespaces, namespace))
    return denied(
      namespace === undefined
        ? `${method} across every namespace needs a role that covers them; you are ${who}: name a namespace (--namespace)`
        : `${method} in namespace ${JSON.stringify(namespace)}: you are ${who}`,
    );
  return ALLOW;
}

/**
 * Who may read what on the HTTP endpoint of a component (controller or agent, served over mTLS:
 * proto/src/metrics-http.ts). /metrics and /sd/* show every namespace's services, tasks and
 * nodes, so they need a monitor identity (`berth token create --role monitor`), an admin, or an
 * operator whose role covers every namespace (`*`); /healthz and /readyz say only whether the
 * process answers and is ready, and answer any identity of the cluster. Agents and controllers
 * do not scrape.
 */
export function decideHttp(path: string, identity: Identity | undefined): Decision {
  if (!identity) return unauthenticated();
  if (path === '/healthz' || path === '/readyz') return ALLOW;
  const who = describeIdentity(identity);
  if (identity.kind === 'monitor') return ALLOW;
  if (identity.kind === 'operator' && (identity.role === 'admin' || covers(identity.namespaces, undefined))) return ALLOW;
  return denied(
    identity.kind === 'operator'
      ? `${path} shows every namespace: it needs a monitor credential, an admin, or a role that covers every namespace (*); you are ${who}`
      : `${path} is for monitoring credentials (berth token create --role monitor) and operators; you are ${who}`,
  );
}
