// A Store that times every etcd request and counts its results (berth_etcd_* metrics). Wraps the
// real EtcdStore at the composition root; loops and the API never know.
import { CompactedError, ConflictError, UnavailableError, type Store, type Watch, type WatchHandler, type WriteOp } from './store.js';
import type { ControllerMetrics, EtcdOp, EtcdResult } from '../metrics/metrics.js';

function resultOf(err: unknown): EtcdResult {
  if (err instanceof ConflictError) return 'conflict';
  if (err instanceof UnavailableError) return 'unavailable';
  if (err instanceof CompactedError) return 'compacted';
  return 'error';
}

export class InstrumentedStore implements Store {
  constructor(
    private readonly inner: Store,
    private readonly metrics: Pick<ControllerMetrics, 'etcdDuration' | 'etcdRequests'>,
  ) {}

  private async timed<T>(op: EtcdOp, fn: () => Promise<T>): Promise<T> {
    const end = this.metrics.etcdDuration.labels(op).startTimer();
    try {
      const v = await fn();
      this.metrics.etcdRequests.labels(op, 'ok').inc();
      return v;
    } catch (err) {
      this.metrics.etcdRequests.labels(op, resultOf(err)).inc();
      throw err;
    } finally {
      end();
    }
  }

  get(key: string) {
    return this.timed('get', () => this.inner.get(key));
  }

  list(prefix: string) {
    return this.timed('list', () => this.inner.list(prefix));
  }

  commit(ops: WriteOp[]): Promise<number> {
    return this.timed('commit', () => this.inner.commit(ops));
  }

  /** Counts watches opened (ok) and how they ended in error (compacted, unavailable, error). */
  watch(prefix: string, fromRevision: number, handler: WatchHandler): Watch {
    this.metrics.etcdRequests.labels('watch', 'ok').inc();
    return this.inner.watch(prefix, fromRevision, {
      onEvents: (events) => handler.onEvents(events),
      onError: (err) => {
        this.metrics.etcdRequests.labels('watch', resultOf(err)).inc();
        handler.onError(err);
      },
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
