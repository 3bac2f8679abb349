// A work queue of keys, as in client-go: a key waiting is queued once however often it is added
// (dedup); a key being processed is never handed to a second worker (one in flight per key) and,
// if added meanwhile, runs again when done; failures requeue with per-key exponential backoff.
import { backoffMs, type Clock, type Timer } from '../../../proto/src/clock.js';

/** First retry of a failed key. */
export const REQUEUE_INITIAL_MS = 50;
/** Cap on a failing key's retry delay: a stuck key is still looked at this often. */
export const REQUEUE_MAX_MS = 30_000;

export class WorkQueue {
  private queue: string[] = [];
  private head = 0;
  private dirty = new Set<string>();
  private processing = new Set<string>();
  private failures = new Map<string, number>();
  private delayed = new Map<string, { at: number; timer: Timer }>();
  private waiters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;

  constructor(
    private readonly clock: Clock,
    private readonly opts: { initialMs?: number; maxMs?: number } = {},
  ) {}

  /** Queue key now (no-op if already waiting). */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // re-queued by done()
    this.push(key);
  }

  /** Queue key after ms; an earlier pending delay wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const prev = this.delayed.get(key);
    if (prev && prev.at <= at) return;
    prev?.timer.cancel();
    const timer = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  /** Queue key after its backoff: doubles with every failure until forget(). */
  addRateLimited(key: string): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.addAfter(key, backoffMs(n, this.opts.initialMs ?? REQUEUE_INITIAL_MS, this.opts.maxMs ?? REQUEUE_MAX_MS));
  }

  /** The key succeeded: reset its backoff. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /**
   * Next key to process; undefined once shut down, even if keys are still queued: a stopped loop
   * (e.g. a leader-only loop after losing the election) must not go on reconciling.
   */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.pop();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Processing of key finished; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) this.push(key);
  }

  /** Keys waiting (not counting delayed or in-flight ones). */
  get length(): number {
    return this.queue.length - this.head;
  }

  get inFlight(): number {
    return this.processing.size;
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) timer.cancel();
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  private push(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queue.push(key);
  }

  private pop(): string | undefined {
    while (this.head < this.queue.length) {
      const key = this.queue[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      if (!this.dirty.has(key) || this.processing.has(key)) continue;
      this.dirty.delete(key);
      this.processing.add(key);
      return key;
    }
    return undefined;
  }
}
