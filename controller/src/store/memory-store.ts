// In-memory Store with etcd's revision semantics, for unit tests and fakes. It keeps a history
// of changes so watches can start in the past, and compact() drops history like etcd's
// compaction, after which an older watch start fails with CompactedError.
import { ConflictError } from '../../../proto/src/errors.js';
import { CompactedError, type KeyValue, type Store, type Watch, type WatchEvent, type WatchHandler, type WriteOp } from './store.js';

interface Watcher {
  prefix: string;
  handler: WatchHandler;
  closed: boolean;
  /** Events not yet handed over; flushed in a microtask, in order, as a real watch would. */
  queue: WatchEvent[];
  scheduled: boolean;
}

export class MemoryStore implements Store {
  private data = new Map<string, KeyValue>();
  private revision = 1; // etcd starts at 1
  private history: WatchEvent[] = [];
  private compacted = 0;
  private watchers = new Set<Watcher>();
  private closed = false;

  get currentRevision(): number {
    return this.revision;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.assertOpen();
    const kv = this.data.get(key);
    return kv ? { ...kv } : undefined;
  }

  async list(prefix: string): Promise<{ items: KeyValue[]; revision: number }> {
    this.assertOpen();
    const items = [...this.data.values()]
      .filter((kv) => kv.key.startsWith(prefix))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((kv) => ({ ...kv }));
    return { items, revision: this.revision };
  }

  async commit(ops: WriteOp[]): Promise<number> {
    this.assertOpen();
    // etcd refuses a transaction that names one key twice: so does this store.
    const named = new Set<string>();
    for (const op of ops) {
      if (op.op === 'deletePrefix') continue;
      if (named.has(op.key)) throw new Error(`duplicate key in one commit: ${op.key}`);
      named.add(op.key);
    }
    const failed: string[] = [];
    let current: number | undefined;
    for (const op of ops) {
      if (op.op === 'deletePrefix' || op.op === 'put') continue;
      const have = this.data.get(op.key)?.modRevision ?? 0;
      const ok =
        op.op === 'create'
          ? have === 0
          : op.op === 'update' || op.op === 'check'
            ? have === op.modRevision
            : op.modRevision === undefined || have === op.modRevision;
      if (!ok) {
        failed.push(op.key);
        current ??= have;
      }
    }
    if (failed.length > 0) throw new ConflictError(`conflict on ${failed.join(', ')}`, failed, current);
    const events: WatchEvent[] = [];
    // Like etcd, a commit that changes nothing (checks only, deleting absent keys) keeps the revision.
    const rev = this.revision + 1;
    for (const op of ops) {
      switch (op.op) {
        case 'create':
        case 'put':
        case 'update': {
          const prev = this.data.get(op.key);
          const kv: KeyValue = { key: op.key, value: op.value, createRevision: prev?.createRevision ?? rev, modRevision: rev };
          this.data.set(op.key, kv);
          events.push({ type: 'put', ...kv });
          break;
        }
        case 'delete':
          if (this.data.delete(op.key)) events.push({ type: 'delete', key: op.key, value: '', createRevision: 0, modRevision: rev });
          break;
        case 'deletePrefix':
          for (const key of [...this.data.keys()].sort()) {
            if (key.startsWith(op.prefix)) {
              this.data.delete(key);
              events.push({ type: 'delete', key, value: '', createRevision: 0, modRevision: rev });
            }
          }
          break;
        case 'check':
          break;
      }
    }
    if (events.length === 0) return this.revision;
    this.revision = rev;
    this.history.push(...events);
    for (const w of this.watchers) this.deliver(w, events);
    return rev;
  }

  watch(prefix: string, fromRevision: number, handler: WatchHandler): Watch {
    this.assertOpen();
    const w: Watcher = { prefix, handler, closed: false, queue: [], scheduled: false };
    if (fromRevision < this.compacted) {
      const err = new CompactedError(this.compacted);
      queueMicrotask(() => handler.onError(err));
      return { close: () => undefined };
    }
    const backlog = this.history.filter((e) => e.modRevision > fromRevision);
    this.watchers.add(w);
    this.deliver(w, backlog);
    return {
      close: () => {
        w.closed = true;
        this.watchers.delete(w);
      },
    };
  }

  /** Drop history at or below `revision`, as etcd compaction does. */
  compact(revision = this.revision): void {
    this.compacted = revision;
    this.history = this.history.filter((e) => e.modRevision > revision);
  }

  /** Ends every open watch with an error (simulates a broken watch stream). */
  breakWatches(err: Error): void {
    for (const w of [...this.watchers]) {
      this.watchers.delete(w);
      w.closed = true;
      w.handler.onError(err);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watchers.clear();
  }

  private deliver(w: Watcher, events: WatchEvent[]): void {
    if (w.closed) return;
    for (const e of events) if (e.key.startsWith(w.prefix)) w.queue.push({ ...e });
    if (w.queue.length === 0 || w.scheduled) return;
    w.scheduled = true;
    queueMicrotask(() => {
      w.scheduled = false;
      const batch = w.queue;
      w.queue = [];
      if (!w.closed && batch.length > 0) w.handler.onEvents(batch);
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('store closed');
  }
}
