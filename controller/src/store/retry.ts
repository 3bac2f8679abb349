// The one retry of a read-change-write that lost its race (ConflictError): read again, decide
// again, write again at the new revision. Nothing else is retried here: other errors pass through.
import { sleep } from '../../../proto/src/clock.js';
import { ConflictError } from '../../../proto/src/errors.js';

/**
 * Attempts of a read-change-write that keeps losing its race. A conflict means another writer
 * landed between one read and its write (the leader's loops, an agent re-registering, another
 * API call); losing eight such races in a row is practically impossible, and each attempt is
 * one read and one write, so a call's work stays bounded.
 */
export const CONFLICT_ATTEMPTS = 8;

export interface RetryOptions {
  /** Calls of `fn` at most (default CONFLICT_ATTEMPTS; 1: no retry, e.g. the caller named a revision). */
  attempts?: number | undefined;
  /** The error thrown when every attempt conflicted (default: the last ConflictError). */
  exhausted?: ((last: ConflictError) => Error) | undefined;
  /**
   * How long to wait after a conflicting attempt before the next one (default: none). For a
   * caller that decides from the informer cache: a conflict means the cache is behind the store,
   * and the next attempt is only worth making once the watch has delivered the newer record.
   */
  delayMs?: ((attempt: number) => number) | undefined;
}

/**
 * Calls `fn` (which reads, decides and commits) until it does not throw ConflictError, at most
 * `attempts` times. `fn` gets the attempt number, from 1.
 */
export async function retryOnConflict<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? CONFLICT_ATTEMPTS);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      if (attempt >= attempts) throw opts.exhausted ? opts.exhausted(err) : err;
      const delay = opts.delayMs?.(attempt) ?? 0;
      if (delay > 0) await sleep(delay);
    }
  }
}
