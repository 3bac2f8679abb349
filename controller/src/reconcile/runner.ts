// Runs a reconciler over a work queue with N workers until the signal aborts. The reconciler
// receives a key, re-reads current state and converges it; errors requeue the key with backoff.
import type { Logger } from '../../../proto/src/log.js';
import { ConflictError, UnavailableError } from '../../../proto/src/errors.js';
import type { ControllerMetrics, LoopName } from '../metrics/metrics.js';
import type { WorkQueue } from './workqueue.js';

export interface ReconcileResult {
  /** Look at the key again after this long even if nothing changes (e.g. a pending timer). */
  requeueAfterMs?: number;
}

export type Reconciler = (key: string) => Promise<ReconcileResult | void>;

export interface RunOptions {
  loop: LoopName;
  queue: WorkQueue;
  reconcile: Reconciler;
  workers: number;
  log: Logger;
  metrics?: ControllerMetrics | undefined;
  signal: AbortSignal;
}

export async function runQueue(opts: RunOptions): Promise<void> {
  const { loop, queue, reconcile, log, metrics, signal } = opts;
  const onAbort = (): void => queue.shutdown();
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) queue.shutdown();
  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      metrics?.queueDepth.labels(loop).set(queue.length);
      const end = metrics?.reconcileDuration.labels(loop).startTimer();
      try {
        const res = await reconcile(key);
        queue.forget(key);
        if (res?.requeueAfterMs !== undefined) {
          queue.addAfter(key, res.requeueAfterMs);
          metrics?.reconcileTotal.labels(loop, 'requeue').inc();
        } else metrics?.reconcileTotal.labels(loop, 'success').inc();
      } catch (err) {
        if (err instanceof ConflictError) {
          // Lost a race: the watch brings the newer object; look again soon.
          metrics?.reconcileTotal.labels(loop, 'conflict').inc();
          log.debug({ key, err: err.message }, 'conflict, requeue');
        } else {
          metrics?.reconcileTotal.labels(loop, 'error').inc();
          const level = err instanceof UnavailableError ? 'warn' : 'error';
          log[level](
            { key, err: err instanceof Error ? err.message : String(err), attempts: queue.numRequeues(key) + 1 },
            'reconcile failed, requeue with backoff',
          );
        }
        queue.addRateLimited(key);
      } finally {
        end?.();
        queue.done(key);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.workers }, () => worker()));
  } finally {
    signal.removeEventListener('abort', onAbort);
    metrics?.queueDepth.labels(loop).set(0);
  }
}
