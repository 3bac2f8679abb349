// The leader's housekeeping of security records, so they stay bounded: a revocation record is
// kept only while the certificate it names could still be presented (past its notAfter, TLS
// refuses it anyway), and an expired join token's record only for a day after its expiry (so
// `berth token ls` still shows why a join was refused). Kubernetes' tokencleaner deletes expired
// bootstrap tokens the same way.
import { sleep, type Clock } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import type { Keys } from '../store/keys.js';
import type { Store, WriteOp } from '../store/store.js';

/** How often the leader looks. */
export const SECURITY_JANITOR_INTERVAL_MS = 10 * 60_000;
/** A revoked certificate's record outlives the certificate by this much (clock skew between hosts). */
export const REVOCATION_RETENTION_MS = 3600_000;
/** An expired token's record is kept this long after its expiry. */
export const EXPIRED_TOKEN_RETENTION_MS = 24 * 3600_000;

export interface SecurityRecord {
  key: string;
  modRevision: number;
  /** The certificate's notAfter (revocations) or the token's expiry (0: never). */
  untilMs: number;
}

/** The records that may go (pure): revocations of expired certificates, long-expired tokens. */
export function securityGarbage(records: { revoked: SecurityRecord[]; tokens: SecurityRecord[] }, nowMs: number): SecurityRecord[] {
  return [
    ...records.revoked.filter((r) => r.untilMs + REVOCATION_RETENTION_MS < nowMs),
    ...records.tokens.filter((r) => r.untilMs !== 0 && r.untilMs + EXPIRED_TOKEN_RETENTION_MS < nowMs),
  ];
}

/** Reads a record's time field; a record that does not parse is left alone (and logged). */
function untilOf(value: string, field: 'notAfterMs' | 'expiresAtMs'): number | undefined {
  try {
    const v = (JSON.parse(value) as Record<string, unknown>)[field];
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export class SecurityJanitor {
  constructor(private readonly deps: { store: Store; keys: Keys; clock: Clock; log: Logger; intervalMs?: number }) {}

  async start(signal: AbortSignal): Promise<void> {
    const interval = this.deps.intervalMs ?? SECURITY_JANITOR_INTERVAL_MS;
    while (!signal.aborted) {
      try {
        await this.pass();
      } catch (err) {
        this.deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'security housekeeping failed');
      }
      await sleep(interval, signal);
    }
  }

  /** One look: deletes what securityGarbage names, each at the revision it was read at. Returns how many went. */
  async pass(): Promise<number> {
    const { store, keys, clock, log } = this.deps;
    const read = async (prefix: string, field: 'notAfterMs' | 'expiresAtMs'): Promise<SecurityRecord[]> => {
      const { items } = await store.list(prefix);
      const out: SecurityRecord[] = [];
      for (const kv of items) {
        const untilMs = untilOf(kv.value, field);
        if (untilMs === undefined) log.warn({ key: kv.key }, `security record without ${field}: left alone`);
        else out.push({ key: kv.key, modRevision: kv.modRevision, untilMs });
      }
      return out;
    };
    const garbage = securityGarbage(
      { revoked: await read(keys.revokedCerts, 'notAfterMs'), tokens: await read(keys.tokens, 'expiresAtMs') },
      clock.now(),
    );
    // One commit per record: a record changed since it was read (a token rotated) stays.
    let removed = 0;
    for (const r of garbage) {
      const op: WriteOp = { op: 'delete', key: r.key, modRevision: r.modRevision };
      try {
        await store.commit([op]);
        removed++;
      } catch (err) {
        log.debug({ key: r.key, err: err instanceof Error ? err.message : String(err) }, 'security record changed since read: kept');
      }
    }
    if (removed > 0) log.info({ removed }, 'removed expired revocation and token records');
    return removed;
  }
}
