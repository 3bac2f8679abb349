// Who a peer is, as its certificate says: the one `berth://` URI SAN the cluster CA wrote into it.
// Nothing a peer sends in a message names it; only this does.
//
//   berth://controller/<id>
//   berth://agent/<node id>
//   berth://operator/<role>/<user>[?ns=<namespace>,<namespace>|*]
//   berth://monitor/<name>      a scraper (Prometheus): /metrics and /sd only, no API call
//
// Pure: no I/O.

export const OPERATOR_ROLES = ['admin', 'deployer', 'viewer'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

export type Identity =
  | { kind: 'controller'; id: string }
  | { kind: 'agent'; nodeId: string }
  /** namespaces: those the role covers; ['*'] covers all (admin always covers all). */
  | { kind: 'operator'; user: string; role: OperatorRole; namespaces: string[] }
  /** A monitoring system's credential: it may scrape /metrics and read /sd, and call no API. */
  | { kind: 'monitor'; name: string };

/** Node ids, controller ids and user names: what a CN and a URI path segment take unescaped. */
const NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._@-]{0,251}[A-Za-z0-9])?$/;
const NAMESPACE_RE = /^(?:\*|[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)$/;

/** Why `name` cannot be an identity's name, or undefined. */
export function nameProblem(name: string): string | undefined {
  return NAME_RE.test(name)
    ? undefined
    : `${JSON.stringify(name)}: use 1–253 letters, digits, ".", "_", "@" and "-", starting and ending with a letter or digit`;
}

/** Why `ns` cannot be a namespace of a credential, or undefined. */
export function namespaceProblem(ns: string): string | undefined {
  return NAMESPACE_RE.test(ns) ? undefined : `${JSON.stringify(ns)}: not a namespace (a DNS-1123 label, or * for all)`;
}

export function identityUri(i: Identity): string {
  switch (i.kind) {
    case 'controller':
      return `berth://controller/${i.id}`;
    case 'agent':
      return `berth://agent/${i.nodeId}`;
    case 'operator':
      return `berth://operator/${i.role}/${i.user}${i.role === 'admin' ? '' : `?ns=${i.namespaces.join(',')}`}`;
    case 'monitor':
      return `berth://monitor/${i.name}`;
  }
}

/** The identity a URI names, or undefined for anything that is not exactly one of the forms above. */
export function parseIdentityUri(uri: string): Identity | undefined {
  const m = /^berth:\/\/(controller|agent|operator|monitor)\/([^?#]+)(?:\?ns=([^#]*))?$/.exec(uri);
  if (!m) return undefined;
  const [, kind, path, ns] = m;
  const parts = path!.split('/');
  if (kind === 'controller' || kind === 'agent' || kind === 'monitor') {
    if (parts.length !== 1 || ns !== undefined || nameProblem(parts[0]!)) return undefined;
    if (kind === 'monitor') return { kind, name: parts[0]! };
    return kind === 'controller' ? { kind, id: parts[0]! } : { kind, nodeId: parts[0]! };
  }
  if (parts.length !== 2) return undefined;
  const [role, user] = parts as [string, string];
  if (!(OPERATOR_ROLES as readonly string[]).includes(role) || nameProblem(user)) return undefined;
  if (role === 'admin') return ns === undefined ? { kind: 'operator', user, role: 'admin', namespaces: ['*'] } : undefined;
  if (ns === undefined || ns === '') return undefined;
  const namespaces = ns.split(',');
  if (namespaces.some((n) => namespaceProblem(n))) return undefined;
  return { kind: 'operator', user, role: role as OperatorRole, namespaces };
}

/** The identity of a certificate's URI SANs: exactly one berth:// URI, else none. */
export function identityOf(uris: string[]): Identity | undefined {
  const ours = uris.filter((u) => u.startsWith('berth://'));
  return ours.length === 1 ? parseIdentityUri(ours[0]!) : undefined;
}

/** How an identity is named in logs, errors and the audit log. */
export function describeIdentity(i: Identity | undefined): string {
  if (!i) return 'anonymous';
  switch (i.kind) {
    case 'controller':
      return `controller ${i.id}`;
    case 'agent':
      return `agent ${i.nodeId}`;
    case 'operator':
      return i.role === 'admin' ? `${i.user} (admin)` : `${i.user} (${i.role} of ${i.namespaces.join(', ')})`;
    case 'monitor':
      return `monitor ${i.name}`;
  }
}
