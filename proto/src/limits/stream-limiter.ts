// Caps on the long-lived streams one server holds open: a total for the server and a share for
// each caller identity, so that one identity at its share (256 idle `logs -f` of one operator)
// leaves room for every other. The key of an identity is its name without its grants
// (controller/<id>, agent/<node>, operator/<user>): two certificates of one user share a share.
//
// Pure: no I/O, no clock. The gRPC edges ask acquire() once per stream and call release() once
// when it ends (release is idempotent).
import { describeIdentity, type Identity } from '../security/identity.js';

export interface StreamLimits {
  /** Streams the server holds at once, for every caller together. */
  total: number;
  /** Streams one identity holds at once (at most `total`). */
  perIdentity: number;
}

/** Why a limit cannot be used, or undefined. */
export function streamLimitsProblem(l: StreamLimits): string | undefined {
  if (!Number.isInteger(l.total) || l.total < 1) return `total: must be a whole number ≥ 1; got ${l.total}`;
  if (!Number.isInteger(l.perIdentity) || l.perIdentity < 1) return `perIdentity: must be a whole number ≥ 1; got ${l.perIdentity}`;
  if (l.perIdentity > l.total) return `perIdentity (${l.perIdentity}) must not exceed total (${l.total})`;
  return undefined;
}

/** The key an identity's share is counted under; undefined: counted only in the total. */
export function limitKey(who: Identity | undefined): string | undefined {
  if (!who) return undefined;
  switch (who.kind) {
    case 'controller':
      return `controller/${who.id}`;
    case 'agent':
      return `agent/${who.nodeId}`;
    case 'operator':
      return `operator/${who.user}`;
    case 'monitor':
      return `monitor/${who.name}`;
  }
}

export type Acquired = { ok: true; release: () => void } | { ok: false; limit: 'total' | 'perIdentity'; message: string };

export class StreamLimiter {
  private open = 0;
  private readonly byKey = new Map<string, number>();

  /**
   * @param what the streams counted, for messages ("events, logs and exec streams")
   * @param where the server, for messages ("this controller")
   * @param flags the flags that set total and perIdentity, named in refusals
   */
  constructor(
    readonly limits: StreamLimits,
    private readonly names: { what: string; where: string; totalFlag: string; perIdentityFlag: string },
  ) {
    const p = streamLimitsProblem(limits);
    if (p) throw new Error(`stream limits: ${p}`);
  }

  /** Streams open now, in all and for one key. */
  get total(): number {
    return this.open;
  }

  of(who: Identity | undefined): number {
    const k = limitKey(who);
    return k === undefined ? 0 : (this.byKey.get(k) ?? 0);
  }

  /**
   * Takes one stream for `who` (undefined: a caller without an identity of its own, such as every
   * caller under --insecure-dev, is bounded by the total only).
   */
  acquire(who: Identity | undefined): Acquired {
    const { total, perIdentity } = this.limits;
    const { what, where, totalFlag, perIdentityFlag } = this.names;
    const key = limitKey(who);
    const mine = key === undefined ? 0 : (this.byKey.get(key) ?? 0);
    if (key !== undefined && mine >= perIdentity)
      return {
        ok: false,
        limit: 'perIdentity',
        message: `${describeIdentity(who)} holds ${mine} ${what} on ${where}, the most one identity may (${perIdentityFlag} ${perIdentity}); close one and try again`,
      };
    if (this.open >= total)
      return {
        ok: false,
        limit: 'total',
        message: `${where} serves ${total} ${what} at most (${totalFlag} ${total}), all in use; refused for ${describeIdentity(who)}: try again later or ask another server`,
      };
    this.open++;
    if (key !== undefined) this.byKey.set(key, mine + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.open--;
        if (key === undefined) return;
        const n = (this.byKey.get(key) ?? 1) - 1;
        if (n <= 0) this.byKey.delete(key);
        else this.byKey.set(key, n);
      },
    };
  }
}
