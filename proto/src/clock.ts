// Time as an input: production code takes a Clock so tests can drive it.
export interface Timer {
  cancel(): void;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/**
 * Milliseconds on a clock that never jumps (not wall time, so not comparable across processes):
 * for the durations whose safety depends on time, leases and fence deadlines. A wall clock set
 * back or forward (NTP step, a suspended VM) must neither extend nor cut them short.
 */
export type MonotonicNow = () => number;
export const monotonicNow: MonotonicNow = () => performance.now();

/** A clock that moves only when told; timers fire in time order during advance(). */
export class ManualClock implements Clock {
  private t: number;
  private timers: Array<{ at: number; fn: () => void; seq: number; cancelled: boolean }> = [];
  private seq = 0;
  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): Timer {
    const timer = { at: this.t + Math.max(0, ms), fn, seq: this.seq++, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => !x.cancelled && x.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      due.cancelled = true;
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.timers = this.timers.filter((x) => !x.cancelled);
    this.t = end;
  }
  get pending(): number {
    return this.timers.filter((x) => !x.cancelled).length;
  }
}

/** Resolves after ms, or at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Exponential backoff with a cap: initial · factor^attempt, at most max. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, factor = 2): number {
  return Math.min(maxMs, initialMs * Math.pow(factor, Math.max(0, attempt)));
}

/** Wakes one waiting loop: notify() before wait() is remembered, so no wake-up is lost. */
export class Notifier {
  private pending = false;
  private resolve: (() => void) | undefined;

  notify(): void {
    if (this.resolve) {
      const r = this.resolve;
      this.resolve = undefined;
      r();
    } else this.pending = true;
  }

  /** Resolves at the next notify() (or at once if one came since the last wait), or on abort. */
  wait(signal?: AbortSignal): Promise<void> {
    if (this.pending || signal?.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const onAbort = (): void => done();
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
        this.resolve = undefined;
        resolve();
      };
      this.resolve = done;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
