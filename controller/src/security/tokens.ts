// Join tokens in etcd: a record per token (what it grants, when it expires, whether it is
// revoked, how often it was used); the secret only as its hash. Redeeming checks all of that and
// counts the use in the same conditional write, so a token revoked meanwhile is not honoured.
import type { Clock } from '../../../proto/src/clock.js';
import { NotFoundError, PermissionDeniedError, ValidationError } from '../../../proto/src/errors.js';
import type { Issue } from '../../../proto/src/spec/dsl.js';
import { nameProblem, namespaceProblem, OPERATOR_ROLES, type Identity, type OperatorRole } from '../../../proto/src/security/identity.js';
import { formatToken, newToken, parseToken, secretHash, secretMatches, TokenFormatError } from '../../../proto/src/security/tokens.js';
import { ConflictError, type Store } from '../store/store.js';
import type { Keys } from '../store/keys.js';

export const DEFAULT_TOKEN_TTL_MS = 24 * 3600_000;
/** The longest a token may live; 0 ("never") is allowed only for agent tokens, as Swarm's never expire. */
export const MAX_TOKEN_TTL_MS = 365 * 24 * 3600_000;

export interface TokenGrant {
  /** monitor: a scrape credential for /metrics and /sd (Prometheus), named by `user`. */
  role: 'agent' | 'operator' | 'monitor';
  operatorRole?: OperatorRole | undefined;
  namespaces?: string[] | undefined;
  user?: string | undefined;
}

export interface TokenRecord extends TokenGrant {
  id: string;
  secretHash: string;
  createdAtMs: number;
  /** 0: never. */
  expiresAtMs: number;
  revoked: boolean;
  uses: number;
  createdBy: string;
}

/** Why a grant is not one, per field (empty: it is one). */
export function grantIssues(g: TokenGrant, ttlMs: number): Issue[] {
  const issues: Issue[] = [];
  if (g.role !== 'agent' && g.role !== 'operator' && g.role !== 'monitor')
    issues.push({ path: 'role', message: `${JSON.stringify(g.role)}: must be agent, operator or monitor` });
  if (!Number.isInteger(ttlMs) || ttlMs < 0 || ttlMs > MAX_TOKEN_TTL_MS)
    issues.push({ path: 'ttl', message: `must be between 1s and ${MAX_TOKEN_TTL_MS / 86_400_000}d (0: the default)` });
  if (g.role === 'agent') {
    if (g.operatorRole || (g.namespaces?.length ?? 0) > 0 || g.user)
      issues.push({ path: 'role', message: 'an agent token grants no operator role, namespaces or user' });
    return issues;
  }
  if (g.role === 'monitor') {
    if (g.operatorRole || (g.namespaces?.length ?? 0) > 0)
      issues.push({ path: 'role', message: 'a monitor token grants no operator role or namespaces (it may scrape every namespace)' });
    if (!g.user) issues.push({ path: 'user', message: 'required: the name the monitor credential carries (e.g. prometheus)' });
    else {
      const p = nameProblem(g.user);
      if (p) issues.push({ path: 'user', message: p });
    }
    return issues;
  }
  if (g.role !== 'operator') return issues;
  if (!g.operatorRole || !(OPERATOR_ROLES as readonly string[]).includes(g.operatorRole))
    issues.push({ path: 'operatorRole', message: `${JSON.stringify(g.operatorRole ?? '')}: must be one of ${OPERATOR_ROLES.join(', ')}` });
  if (!g.user) issues.push({ path: 'user', message: 'required: the user the credential names' });
  else {
    const p = nameProblem(g.user);
    if (p) issues.push({ path: 'user', message: p });
  }
  const nss = g.namespaces ?? [];
  if (g.operatorRole === 'admin' && nss.length > 0) issues.push({ path: 'namespaces', message: 'admin covers every namespace: give none' });
  if (g.operatorRole && g.operatorRole !== 'admin' && nss.length === 0)
    issues.push({ path: 'namespaces', message: `required for ${g.operatorRole} (a namespace, or * for all)` });
  nss.forEach((n, i) => {
    const p = namespaceProblem(n);
    if (p) issues.push({ path: `namespaces[${i}]`, message: p });
  });
  return issues;
}

export class TokenStore {
  constructor(
    private readonly deps: {
      store: Store;
      keys: Keys;
      clock: Clock;
      /** Digest of the cluster CA certificate, which tokens carry. */
      caDigest: string;
    },
  ) {}

  async create(grant: TokenGrant, ttlMs: number, createdBy: string): Promise<{ record: TokenRecord; token: string }> {
    const issues = grantIssues(grant, ttlMs);
    if (issues.length > 0) throw new ValidationError(issues, 'token');
    const { store, keys, clock, caDigest } = this.deps;
    const t = newToken(caDigest);
    const now = clock.now();
    const record: TokenRecord = {
      id: t.id,
      role: grant.role,
      ...(grant.role === 'monitor' ? { user: grant.user } : {}),
      ...(grant.role === 'operator'
        ? {
            operatorRole: grant.operatorRole,
            namespaces: grant.operatorRole === 'admin' ? [] : [...(grant.namespaces ?? [])],
            user: grant.user,
          }
        : {}),
      secretHash: secretHash(t.secret),
      createdAtMs: now,
      expiresAtMs: now + (ttlMs || DEFAULT_TOKEN_TTL_MS),
      revoked: false,
      uses: 0,
      createdBy,
    };
    await store.commit([{ op: 'create', key: keys.token(t.id), value: JSON.stringify(record) }]);
    return { record, token: formatToken(t) };
  }

  async list(): Promise<TokenRecord[]> {
    const { items } = await this.deps.store.list(this.deps.keys.tokens);
    return items.map((kv) => JSON.parse(kv.value) as TokenRecord).sort((a, b) => a.createdAtMs - b.createdAtMs);
  }

  async revoke(id: string): Promise<TokenRecord> {
    const { store, keys } = this.deps;
    for (;;) {
      const kv = await store.get(keys.token(id));
      if (!kv) throw new NotFoundError(`token ${id}`);
      const rec = JSON.parse(kv.value) as TokenRecord;
      if (rec.revoked) return rec;
      const next = { ...rec, revoked: true };
      try {
        await store.commit([{ op: 'update', key: kv.key, value: JSON.stringify(next), modRevision: kv.modRevision }]);
        return next;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
  }

  /** Revokes `id` and creates a token with its grant and lifetime. */
  async rotate(id: string, createdBy: string): Promise<{ record: TokenRecord; token: string }> {
    const old = await this.revoke(id);
    const ttl = old.expiresAtMs - old.createdAtMs;
    return this.create({ role: old.role, operatorRole: old.operatorRole, namespaces: old.namespaces, user: old.user }, ttl, createdBy);
  }

  /**
   * The record of a valid token, its use counted. Every refusal says the same to the caller (no
   * oracle for which part was wrong), except expiry and revocation, which a holder needs to know.
   */
  async redeem(token: string): Promise<TokenRecord> {
    const { store, keys, clock, caDigest } = this.deps;
    let parsed;
    try {
      parsed = parseToken(token);
    } catch (err) {
      if (err instanceof TokenFormatError) throw new PermissionDeniedError(`token: ${err.message}`);
      throw err;
    }
    const invalid = new PermissionDeniedError('token: not valid for this cluster');
    if (parsed.caDigest !== caDigest) throw invalid;
    for (;;) {
      const kv = await store.get(keys.token(parsed.id));
      if (!kv) throw invalid;
      const rec = JSON.parse(kv.value) as TokenRecord;
      if (!secretMatches(parsed.secret, rec.secretHash)) throw invalid;
      if (rec.revoked) throw new PermissionDeniedError(`token ${rec.id}: revoked`);
      if (rec.expiresAtMs !== 0 && clock.now() >= rec.expiresAtMs)
        throw new PermissionDeniedError(`token ${rec.id}: expired at ${new Date(rec.expiresAtMs).toISOString()}`);
      const next = { ...rec, uses: rec.uses + 1 };
      try {
        await store.commit([{ op: 'update', key: kv.key, value: JSON.stringify(next), modRevision: kv.modRevision }]);
        return next;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
  }
}

/** The identity a token grants to a joiner (agents name their node id; operators get the token's user). */
export function grantedIdentity(rec: TokenRecord, nodeId: string): Identity {
  if (rec.role === 'agent') {
    // As the Dispatcher checks a Hello's node id.
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/.test(nodeId))
      throw new ValidationError(
        [
          {
            path: 'nodeId',
            message: `${JSON.stringify(nodeId)}: use 1–253 letters, digits, ".", "_" and "-", starting with a letter or digit`,
          },
        ],
        'join request',
      );
    return { kind: 'agent', nodeId };
  }
  if (rec.role === 'monitor') return { kind: 'monitor', name: rec.user! };
  return {
    kind: 'operator',
    user: rec.user!,
    role: rec.operatorRole!,
    namespaces: rec.operatorRole === 'admin' ? ['*'] : (rec.namespaces ?? []),
  };
}
