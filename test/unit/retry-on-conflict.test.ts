import { describe, expect, it } from 'vitest';
import { CONFLICT_ATTEMPTS, retryOnConflict } from '../../controller/src/store/retry.js';
import { ConflictError, NotFoundError, UnavailableError } from '../../proto/src/errors.js';

/** fn that conflicts the first `conflicts` calls, then returns the attempt number; records every attempt. */
function flaky(conflicts: number) {
  const calls: number[] = [];
  const fn = async (attempt: number): Promise<number> => {
    calls.push(attempt);
    if (calls.length <= conflicts) throw new ConflictError(`lost race ${calls.length}`, ['/k'], calls.length);
    return attempt;
  };
  return { fn, calls };
}

describe('retryOnConflict', () => {
  it('retries a conflict and returns what the winning attempt returned', async () => {
    const { fn, calls } = flaky(2);
    await expect(retryOnConflict(fn)).resolves.toBe(3);
    expect(calls).toEqual([1, 2, 3]);
  });

  it(`makes CONFLICT_ATTEMPTS (${CONFLICT_ATTEMPTS}) attempts by default, then throws the last conflict`, async () => {
    const { fn, calls } = flaky(Infinity);
    const err = await retryOnConflict(fn).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).message).toBe(`lost race ${CONFLICT_ATTEMPTS}`);
    expect(calls).toHaveLength(CONFLICT_ATTEMPTS);
  });

  it('succeeds on the very last attempt', async () => {
    const { fn, calls } = flaky(CONFLICT_ATTEMPTS - 1);
    await expect(retryOnConflict(fn)).resolves.toBe(CONFLICT_ATTEMPTS);
    expect(calls).toHaveLength(CONFLICT_ATTEMPTS);
  });

  it('honours attempts (1: no retry, as when the caller named a revision)', async () => {
    const once = flaky(Infinity);
    await expect(retryOnConflict(once.fn, { attempts: 1 })).rejects.toThrow('lost race 1');
    expect(once.calls).toEqual([1]);
    const three = flaky(Infinity);
    await expect(retryOnConflict(three.fn, { attempts: 3 })).rejects.toThrow('lost race 3');
    expect(three.calls).toEqual([1, 2, 3]);
  });

  it('exhausted turns the last conflict into the caller error', async () => {
    const { fn } = flaky(Infinity);
    const err = await retryOnConflict(fn, { attempts: 2, exhausted: (last) => new Error(`gave up after: ${last.message}`) }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toBe('gave up after: lost race 2');
  });

  it.each([new NotFoundError('service default/web'), new UnavailableError('etcd down'), new TypeError('bug')])(
    'passes %s through at once',
    async (thrown) => {
      let calls = 0;
      const err = await retryOnConflict(async () => {
        calls++;
        throw thrown;
      }).catch((e: unknown) => e);
      expect(err).toBe(thrown);
      expect(calls).toBe(1);
    },
  );

  it('a non-conflict error after conflicts ends the retries with that error', async () => {
    let calls = 0;
    const boom = new UnavailableError('etcd down');
    const err = await retryOnConflict(async () => {
      calls++;
      if (calls < 3) throw new ConflictError('lost');
      throw boom;
    }).catch((e: unknown) => e);
    expect(err).toBe(boom);
    expect(calls).toBe(3);
  });

  it('waits delayMs(attempt) between conflicting attempts, and not after the last', async () => {
    const asked: number[] = [];
    let calls = 0;
    const t0 = performance.now();
    const err = await retryOnConflict(
      async () => {
        calls++;
        throw new ConflictError('lost');
      },
      {
        attempts: 3,
        delayMs: (attempt) => {
          asked.push(attempt);
          return 10;
        },
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(calls).toBe(3);
    expect(asked).toEqual([1, 2]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(18);
  });
});
