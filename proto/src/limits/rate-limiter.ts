// A token bucket per caller identity, for calls that are expensive to serve (NodeAPI.Plan runs the
// whole scheduler on a snapshot of the cluster): each identity may make `burst` calls at once,
// then `ratePerSec` a second. One identity at its rate slows only itself.
//
// Pure: the time is an argument (milliseconds of a monotonic clock), so tests drive it.
import { describeIdentity, type Identity } from '../security/identity.js';
import { limitKey } from './stream-limiter.js';

export interface RateLimit {
  /** Tokens added per second (> 0). */
  ratePerSec: number;
  /** Bucket size: calls one identity may make at once (whole number ≥ 1). */
  burst: number;
}

export function rateLimitProblem(l: RateLimit): string | undefined {
  if (!Number.isFinite(l.ratePerSec) || l.ratePerSec <= 0) return `rate: must be a number > 0; got ${l.ratePerSec}`;
  if (!Number.isInteger(l.burst) || l.burst < 1) return `burst: must be a whole number ≥ 1; got ${l.burst}`;
  return undefined;
}

/** Buckets kept at most; beyond, full ones (equal to a fresh bucket) are forgotten first. */
const MAX_BUCKETS = 10_000;
/** Key of the bucket that callers without an identity of their own share (--insecure-dev). */
const SHARED_KEY = '';

export type Taken = { ok: true } | { ok: false; retryAfterMs: number; message: string };

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    readonly limit: RateLimit,
    private readonly names: { what: string; flags: string },
  ) {
    const p = rateLimitProblem(limit);
    if (p) throw new Error(`rate limit: ${p}`);
  }

  /** Takes a token for `who` at `nowMs`, or says how long until one is there. */
  take(who: Identity | undefined, nowMs: number): Taken {
    const key = limitKey(who) ?? SHARED_KEY;
    const { ratePerSec, burst } = this.limit;
    const b = this.buckets.get(key) ?? { tokens: burst, atMs: nowMs };
    // A clock that went back (it should not: monotonic) adds nothing, and the bucket keeps its time.
    const atMs = Math.max(b.atMs, nowMs);
    const tokens = Math.min(burst, b.tokens + ((atMs - b.atMs) * ratePerSec) / 1000);
    if (tokens < 1) {
      this.buckets.set(key, { tokens, atMs });
      const retryAfterMs = Math.ceil(((1 - tokens) * 1000) / ratePerSec);
      return {
        ok: false,
        retryAfterMs,
        message: `${describeIdentity(who)} may make ${burst} ${this.names.what} at once and ${ratePerSec} a second (${this.names.flags}); try again in ${retryAfterMs} ms`,
      };
    }
    this.buckets.set(key, { tokens: tokens - 1, atMs });
    if (this.buckets.size > MAX_BUCKETS) this.forgetFull(nowMs);
    return { ok: true };
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Drops the buckets that have refilled: forgetting them changes no answer. */
  private forgetFull(nowMs: number): void {
    const { ratePerSec, burst } = this.limit;
    for (const [k, b] of this.buckets) if (b.tokens + (Math.max(0, nowMs - b.atMs) * ratePerSec) / 1000 >= burst) this.buckets.delete(k);
  }
}
