import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../proto/src/clock.js';
import { ConflictError, UnavailableError } from '../../proto/src/errors.js';
import { silentLogger } from '../../proto/src/log.js';
import { REQUEUE_INITIAL_MS, REQUEUE_MAX_MS, WorkQueue } from '../../controller/src/reconcile/workqueue.js';
import { runQueue, type Reconciler } from '../../controller/src/reconcile/runner.js';
import { flushMicrotasks } from './fixtures.js';

/** A get() whose result can be looked at without awaiting it. */
function pendingGet(q: WorkQueue): { value: () => string | undefined; settled: () => boolean } {
  let done = false;
  let v: string | undefined;
  void q.get().then((k) => {
    done = true;
    v = k;
  });
  return { value: () => v, settled: () => done };
}

/** Pops every queued key (marking each done), in order. */
async function drain(q: WorkQueue): Promise<string[]> {
  const out: string[] = [];
  while (q.length > 0) {
    const k = (await q.get())!;
    out.push(k);
    q.done(k);
  }
  return out;
}

describe('WorkQueue', () => {
  it('hands keys out in order, each once however often it was added', async () => {
    const q = new WorkQueue(new ManualClock());
    for (const k of ['a', 'b', 'a', 'c', 'b', 'a']) q.add(k);
    expect(q.length).toBe(3);
    expect(await drain(q)).toEqual(['a', 'b', 'c']);
    expect(q.length).toBe(0);
  });

  it('a key is in flight at most once; added while processing it comes back only after done()', async () => {
    const q = new WorkQueue(new ManualClock());
    q.add('a');
    expect(await q.get()).toBe('a');
    expect(q.inFlight).toBe(1);
    q.add('a');
    q.add('a');
    expect(q.length).toBe(0); // not handed to a second worker
    const second = pendingGet(q);
    await flushMicrotasks();
    expect(second.settled()).toBe(false);
    q.done('a');
    await flushMicrotasks();
    expect(second.value()).toBe('a'); // once, for both adds
    expect(q.inFlight).toBe(1);
    q.done('a');
    expect(q.length).toBe(0);
    expect(q.inFlight).toBe(0);
  });

  it('other keys keep flowing while one is in flight', async () => {
    const q = new WorkQueue(new ManualClock());
    q.add('a');
    q.add('b');
    expect(await q.get()).toBe('a');
    q.add('a');
    expect(await q.get()).toBe('b');
    q.done('b');
    expect(q.length).toBe(0);
    q.done('a');
    expect(await q.get()).toBe('a');
  });

  it('a waiting get() receives the next added key', async () => {
    const q = new WorkQueue(new ManualClock());
    const g = pendingGet(q);
    await flushMicrotasks();
    expect(g.settled()).toBe(false);
    q.add('x');
    await flushMicrotasks();
    expect(g.value()).toBe('x');
    expect(q.inFlight).toBe(1);
    q.add('x'); // while in flight: waits for done()
    expect(q.length).toBe(0);
  });

  it('done() of a key that was not re-added queues nothing', () => {
    const q = new WorkQueue(new ManualClock());
    q.add('a');
    void q.get();
    q.done('a');
    expect(q.length).toBe(0);
    expect(q.inFlight).toBe(0);
  });

  describe('addAfter', () => {
    it('queues the key once the delay has passed', () => {
      const clock = new ManualClock();
      const q = new WorkQueue(clock);
      q.addAfter('a', 100);
      clock.advance(99);
      expect(q.length).toBe(0);
      clock.advance(1);
      expect(q.length).toBe(1);
    });

    it('keeps the earliest of several delays for one key', async () => {
      const clock = new ManualClock();
      const q = new WorkQueue(clock);
      q.addAfter('a', 100);
      q.addAfter('a', 50); // earlier: replaces
      q.addAfter('a', 300); // later: ignored
      expect(clock.pending).toBe(1);
      clock.advance(50);
      expect(await drain(q)).toEqual(['a']);
      clock.advance(1000);
      expect(q.length).toBe(0); // no second firing
      expect(clock.pending).toBe(0);
    });

    it('with a delay of 0 or less adds at once', () => {
      const q = new WorkQueue(new ManualClock());
      q.addAfter('a', 0);
      q.addAfter('b', -5);
      expect(q.length).toBe(2);
    });

    it('a delayed key that is already queued is not queued twice', async () => {
      const clock = new ManualClock();
      const q = new WorkQueue(clock);
      q.addAfter('a', 10);
      q.add('a');
      clock.advance(10);
      expect(q.length).toBe(1);
      expect(await drain(q)).toEqual(['a']);
    });
  });

  describe('addRateLimited', () => {
    /** The delay after which a rate-limited add of key shows up in the queue. */
    async function observedDelay(clock: ManualClock, q: WorkQueue, key: string): Promise<number> {
      q.addRateLimited(key);
      let waited = 0;
      while (q.length === 0) {
        clock.advance(1);
        waited++;
        if (waited > 10 * REQUEUE_MAX_MS) throw new Error('never queued');
      }
      expect(await drain(q)).toEqual([key]);
      return waited;
    }

    it('backs off exponentially per key (50, 100, 200, …) up to the cap', async () => {
      const clock = new ManualClock();
      const q = new WorkQueue(clock, { initialMs: 50, maxMs: 1000 });
      const delays: number[] = [];
      for (let i = 0; i < 8; i++) delays.push(await observedDelay(clock, q, 'a'));
      expect(delays).toEqual([50, 100, 200, 400, 800, 1000, 1000, 1000]);
      expect(q.numRequeues('a')).toBe(8);
      // Another key has its own count.
      expect(await observedDelay(clock, q, 'b')).toBe(50);
    });

    it('defaults to REQUEUE_INITIAL_MS doubling to REQUEUE_MAX_MS', async () => {
      const clock = new ManualClock();
      const q = new WorkQueue(clock);
      expect(REQUEUE_INITIAL_MS).toBe(50);
      expect(await observedDelay(clock, q, 'k')).toBe(REQUEUE_INITIAL_MS);
      expect(await observedDelay(clock, q, 'k')).toBe(2 * REQUEUE_INITIAL_MS);
      const delays: number[] = [];
      for (let i = 0; i < 12; i++) delays.push(await observedDelay(clock, q, 'z'));
      expect(delays.slice(-3)).toEqual([25_600, REQUEUE_MAX_MS, REQUEUE_MAX_MS]);
    });

    it('forget() resets the backoff', async () => {
      const clock = new ManualClock();
      const q = new WorkQueue(clock, { initialMs: 50, maxMs: 10_000 });
      await observedDelay(clock, q, 'a');
      await observedDelay(clock, q, 'a');
      await observedDelay(clock, q, 'a');
      q.forget('a');
      expect(q.numRequeues('a')).toBe(0);
      expect(await observedDelay(clock, q, 'a')).toBe(50);
    });
  });

  describe('shutdown', () => {
    it('resolves waiting get() calls with undefined', async () => {
      const q = new WorkQueue(new ManualClock());
      const g1 = pendingGet(q);
      const g2 = pendingGet(q);
      q.shutdown();
      await flushMicrotasks();
      expect([g1.settled(), g2.settled()]).toEqual([true, true]);
      expect([g1.value(), g2.value()]).toEqual([undefined, undefined]);
      expect(await q.get()).toBeUndefined();
    });

    it('hands out nothing more, ignores adds and cancels delayed ones', async () => {
      const clock = new ManualClock();
      const q = new WorkQueue(clock);
      q.add('queued');
      q.addAfter('later', 100);
      q.shutdown();
      expect(clock.pending).toBe(0);
      q.add('new');
      q.addAfter('new2', 10);
      q.addRateLimited('new3');
      clock.advance(1_000_000);
      // A stopped loop must not go on reconciling what was queued (e.g. after losing leadership).
      expect(await q.get()).toBeUndefined();
    });
  });
});

describe('runQueue', () => {
  const log = silentLogger();

  function start(q: WorkQueue, reconcile: Reconciler, workers = 2): { ac: AbortController; done: Promise<void> } {
    const ac = new AbortController();
    const done = runQueue({ loop: 'replicated', queue: q, reconcile, workers, log, signal: ac.signal });
    return { ac, done };
  }

  it('reconciles each added key and forgets its failures on success', async () => {
    const q = new WorkQueue(new ManualClock());
    const seen: string[] = [];
    const { ac, done } = start(q, async (k) => void seen.push(k));
    q.add('a');
    q.add('b');
    await flushMicrotasks();
    expect(seen.sort()).toEqual(['a', 'b']);
    expect(q.inFlight).toBe(0);
    ac.abort();
    await done;
  });

  it('requeues a failing key with backoff until it succeeds', async () => {
    const clock = new ManualClock();
    const q = new WorkQueue(clock);
    const calls: number[] = [];
    let failures = 3;
    const { ac, done } = start(q, async () => {
      calls.push(clock.now());
      if (failures-- > 0)
        throw failures === 2 ? new ConflictError('lost race') : failures === 1 ? new UnavailableError('etcd down') : new Error('boom');
    });
    const t0 = clock.now();
    q.add('svc');
    await flushMicrotasks();
    expect(q.numRequeues('svc')).toBe(1);
    for (const step of [REQUEUE_INITIAL_MS, 2 * REQUEUE_INITIAL_MS, 4 * REQUEUE_INITIAL_MS]) {
      clock.advance(step - 1);
      await flushMicrotasks();
      const before = calls.length;
      clock.advance(1);
      await flushMicrotasks();
      expect(calls.length).toBe(before + 1);
    }
    expect(calls.map((t) => t - t0)).toEqual([0, 50, 150, 350]);
    expect(q.numRequeues('svc')).toBe(0); // succeeded: forgotten
    clock.advance(10_000);
    await flushMicrotasks();
    expect(calls).toHaveLength(4);
    ac.abort();
    await done;
  });

  it('looks again after requeueAfterMs when the reconciler asks for it', async () => {
    const clock = new ManualClock();
    const q = new WorkQueue(clock);
    let n = 0;
    const { ac, done } = start(q, async () => (++n === 1 ? { requeueAfterMs: 700 } : undefined));
    q.add('k');
    await flushMicrotasks();
    expect(n).toBe(1);
    clock.advance(699);
    await flushMicrotasks();
    expect(n).toBe(1);
    clock.advance(1);
    await flushMicrotasks();
    expect(n).toBe(2);
    ac.abort();
    await done;
  });

  it('never runs one key twice at once, and runs it again if it changed meanwhile', async () => {
    const q = new WorkQueue(new ManualClock());
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { ac, done } = start(
      q,
      async () => {
        runs++;
        active++;
        maxActive = Math.max(maxActive, active);
        if (runs === 1) await gate;
        active--;
      },
      4,
    );
    q.add('k');
    await flushMicrotasks();
    q.add('k');
    q.add('k');
    await flushMicrotasks();
    expect(runs).toBe(1);
    release();
    await flushMicrotasks();
    expect(runs).toBe(2);
    expect(maxActive).toBe(1);
    ac.abort();
    await done;
  });

  it('stops on abort: waiting workers return, queued keys are not reconciled', async () => {
    const q = new WorkQueue(new ManualClock());
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { ac, done } = start(
      q,
      async (k) => {
        seen.push(k);
        if (k === 'slow') await gate;
      },
      1,
    );
    q.add('slow');
    await flushMicrotasks();
    q.add('a');
    q.add('b');
    ac.abort();
    release();
    await done;
    expect(seen).toEqual(['slow']);
  });

  it('returns at once when the signal is already aborted', async () => {
    const q = new WorkQueue(new ManualClock());
    q.add('a');
    const ac = new AbortController();
    ac.abort();
    const seen: string[] = [];
    await runQueue({ loop: 'replicated', queue: q, reconcile: async (k) => void seen.push(k), workers: 3, log, signal: ac.signal });
    expect(seen).toEqual([]);
  });
});
