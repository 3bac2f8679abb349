// Issuing and revoking the certificates of agents and operators: joining with a token, renewal
// for the caller's own identity, and the revocation of every certificate a removed node holds.
// The revocation list is kept in memory from an etcd watch (an Informer), so the guard checks a
// caller against it without a read per call.
import type { Clock } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import { FailedPreconditionError, ValidationError } from '../../../proto/src/errors.js';
import { identityUri, type Identity } from '../../../proto/src/security/identity.js';
import { Informer } from '../store/informer.js';
import { AGENT_TLS_NAME } from '../../../proto/src/security/tls.js';
import type { Keys } from '../store/keys.js';
import { ConflictError, type Store, type WriteOp } from '../store/store.js';
import type { ClusterCa } from './cluster-ca.js';
import { grantedIdentity, type TokenStore } from './tokens.js';

export const DEFAULT_NODE_CERT_TTL_MS = 24 * 3600_000;
export const DEFAULT_OPERATOR_CERT_TTL_MS = 30 * 24 * 3600_000;

interface NodeCertRecord {
  notAfterMs: number;
}

interface RevokedRecord {
  notAfterMs: number;
  identity: string;
  revokedAtMs: number;
}

export interface IssuedCertificate {
  certPem: string;
  caPem: string;
  identity: string;
  notAfterMs: number;
}

/** Serials the cluster refuses although its CA signed them (Guard's Revocations). */
export class RevocationList {
  private readonly informer: Informer<RevokedRecord>;

  constructor(
    store: Store,
    private readonly keys: Keys,
    log: Logger,
  ) {
    this.informer = new Informer<RevokedRecord>(store, keys.revokedCerts, (kv) => JSON.parse(kv.value) as RevokedRecord, log);
  }

  start(signal: AbortSignal): Promise<void> {
    return this.informer.start(signal);
  }
  get synced(): Promise<void> {
    return this.informer.synced;
  }

  /** The revoked serials of certificates that have not expired at `nowMs` (what agents are sent). */
  serials(nowMs: number): string[] {
    const prefix = this.keys.revokedCerts;
    return this.informer
      .keys()
      .filter((k) => (this.informer.get(k)?.value.notAfterMs ?? 0) >= nowMs)
      .map((k) => k.slice(prefix.length))
      .sort();
  }

  /** Calls `fn` after every change of the list; returns the unsubscribe. */
  onChange(fn: () => void): () => void {
    return this.informer.addHandler({ onUpsert: () => fn(), onDelete: () => fn() });
  }

  refused(_identity: Identity, serial: string | undefined): string | undefined {
    if (!serial) return undefined;
    return this.informer.get(this.keys.revokedCert(normalSerial(serial))) ? 'certificate revoked' : undefined;
  }
}

/** Serials as stored: lower-case hex without leading zeros (node and @peculiar/x509 differ on both). */
export function normalSerial(s: string): string {
  return s.toLowerCase().replace(/^0+(?=.)/, '');
}

export class CertificateService {
  constructor(
    private readonly deps: {
      ca: ClusterCa;
      tokens: TokenStore;
      store: Store;
      keys: Keys;
      clock: Clock;
      nodeCertTtlMs: number;
      operatorCertTtlMs: number;
    },
  ) {}

  private ttl(identity: Identity): number {
    // Operators and monitors do not renew by themselves (a person logs in again; a scraper's files are rewritten).
    return identity.kind === 'operator' || identity.kind === 'monitor' ? this.deps.operatorCertTtlMs : this.deps.nodeCertTtlMs;
  }

  /** Exchanges a token and a request for a certificate. */
  async join(token: string, csrPem: string, nodeId: string): Promise<IssuedCertificate> {
    if (!csrPem) throw new ValidationError([{ path: 'csrPem', message: 'required: a PKCS#10 request (PEM)' }], 'join request');
    const rec = await this.deps.tokens.redeem(token);
    const identity = grantedIdentity(rec, nodeId);
    if (identity.kind === 'agent') {
      const { store, keys } = this.deps;
      if (await store.get(keys.node(identity.nodeId)))
        throw new FailedPreconditionError(
          `node ${identity.nodeId} is already a member: an agent that lost its credentials joins again after \`berth nodes rm ${identity.nodeId}\``,
        );
    }
    return this.issue(identity, csrPem);
  }

  /** A new certificate for the caller's own identity. */
  renew(identity: Identity, csrPem: string): Promise<IssuedCertificate> {
    if (!csrPem) throw new ValidationError([{ path: 'csrPem', message: 'required: a PKCS#10 request (PEM)' }], 'renew request');
    return this.issue(identity, csrPem);
  }

  private async issue(identity: Identity, csrPem: string): Promise<IssuedCertificate> {
    const { ca, store, keys, clock } = this.deps;
    let issued;
    try {
      // An agent's certificate also names AGENT_TLS_NAME: what Prometheus checks when it scrapes the agent.
      issued = await ca.issue(
        identity,
        this.ttl(identity),
        identity.kind === 'agent' ? { csrPem, dnsNames: [AGENT_TLS_NAME] } : { csrPem },
      );
    } catch (err) {
      throw new ValidationError([{ path: 'csrPem', message: err instanceof Error ? err.message : String(err) }], 'certificate request');
    }
    if (identity.kind === 'agent') {
      // Remember the serial (for revocation when the node is removed), and forget expired ones.
      const now = clock.now();
      const { items } = await store.list(keys.nodeCerts(identity.nodeId));
      const ops: WriteOp[] = [
        {
          op: 'put',
          key: keys.nodeCert(identity.nodeId, normalSerial(issued.serial)),
          value: JSON.stringify({ notAfterMs: issued.notAfter.getTime() }),
        },
      ];
      for (const kv of items) if ((JSON.parse(kv.value) as NodeCertRecord).notAfterMs < now) ops.push({ op: 'delete', key: kv.key });
      await store.commit(ops);
    }
    return { certPem: issued.certPem, caPem: ca.certPem, identity: identityUri(identity), notAfterMs: issued.notAfter.getTime() };
  }

  /**
   * Revokes one certificate by serial (an operator's or a monitor's credential). Its lifetime is
   * not known here, so the record is kept as long as any operator or monitor certificate lives.
   */
  async revokeSerial(serial: string): Promise<{ serial: string; revokedAtMs: number }> {
    const s = serial.trim();
    if (!/^[0-9a-fA-F]{1,40}$/.test(s))
      throw new ValidationError(
        [{ path: 'serial', message: `${JSON.stringify(serial)}: expected a certificate serial (1–40 hex digits)` }],
        'revoke request',
      );
    const { store, keys, clock } = this.deps;
    const now = clock.now();
    const key = keys.revokedCert(normalSerial(s));
    const existing = await store.get(key);
    if (existing) return { serial: normalSerial(s), revokedAtMs: (JSON.parse(existing.value) as RevokedRecord).revokedAtMs };
    const rec: RevokedRecord = { notAfterMs: now + this.deps.operatorCertTtlMs, identity: '', revokedAtMs: now };
    try {
      await store.commit([{ op: 'create', key, value: JSON.stringify(rec) }]);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err; // revoked meanwhile: the same outcome
    }
    return { serial: normalSerial(s), revokedAtMs: now };
  }

  /** The writes that revoke every certificate issued to a node (for the commit that removes it). */
  async revokeNodeOps(nodeId: string): Promise<WriteOp[]> {
    const { store, keys, clock } = this.deps;
    const { items } = await store.list(keys.nodeCerts(nodeId));
    const now = clock.now();
    const ops: WriteOp[] = [];
    for (const kv of items) {
      const serial = kv.key.slice(keys.nodeCerts(nodeId).length);
      const rec = JSON.parse(kv.value) as NodeCertRecord;
      if (rec.notAfterMs >= now) {
        const revoked: RevokedRecord = { notAfterMs: rec.notAfterMs, identity: `berth://agent/${nodeId}`, revokedAtMs: now };
        ops.push({ op: 'put', key: keys.revokedCert(serial), value: JSON.stringify(revoked) });
      }
    }
    ops.push({ op: 'deletePrefix', prefix: keys.nodeCerts(nodeId) });
    return ops;
  }
}
