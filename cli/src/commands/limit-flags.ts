// The limit flags of `berth controller` and `berth agent` (docs/security.md "Limits"): parsed and
// checked here, so a bad value exits 2 before the daemon starts.
import { parseBytes } from '../../../proto/src/spec/units.js';
import type { RateLimit } from '../../../proto/src/limits/rate-limiter.js';
import type { StreamLimits } from '../../../proto/src/limits/stream-limiter.js';
import { CliError } from '../errors.js';

/** A whole number ≥ min. */
export function wholeNumberFlag(flag: string, v: string, min = 1): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min)
    throw new CliError(`${flag}: must be a whole number ≥ ${min}; got ${JSON.stringify(v)}`, 2);
  return n;
}

/** The total and per-identity stream caps, the second at most the first. */
export function streamLimitFlags(totalFlag: string, total: string, perFlag: string, per: string): StreamLimits {
  const limits = { total: wholeNumberFlag(totalFlag, total), perIdentity: wholeNumberFlag(perFlag, per) };
  if (limits.perIdentity > limits.total)
    throw new CliError(
      `${perFlag}: ${limits.perIdentity} is more than ${totalFlag} ${limits.total}; one identity's share must fit in the total`,
      2,
    );
  return limits;
}

/** --plan-rate (calls a second, > 0) and --plan-burst. */
export function rateLimitFlags(rateFlag: string, rate: string, burstFlag: string, burst: string): RateLimit {
  const r = Number(rate);
  if (rate.trim() === '' || !Number.isFinite(r) || r <= 0)
    throw new CliError(`${rateFlag}: must be a number > 0 (calls a second); got ${JSON.stringify(rate)}`, 2);
  return { ratePerSec: r, burst: wholeNumberFlag(burstFlag, burst) };
}

/** A size in bytes (e.g. 4Mi) between min and max. */
export function bytesFlag(flag: string, v: string, min: number, max: number): number {
  const n = parseBytes(v);
  if (typeof n === 'string') throw new CliError(`${flag}: ${n}`, 2);
  if (n < min || n > max) throw new CliError(`${flag}: must be between ${min} and ${max} bytes; got ${n}`, 2);
  return n;
}
