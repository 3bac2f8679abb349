// A list-then-watch cache of one key prefix. It lists, then watches from the listed revision;
// a broken watch resumes from the last revision it saw; a compacted one lists again and turns
// the difference into events. Handlers only learn which keys changed: consumers re-read the
// cache (level-triggered). Cached objects are shared, so they are frozen (deeply): the planners'
// memos (e.g. taskSpecKey per spec object) depend on a record never changing once read.
import { sleep, backoffMs } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import type { Versioned } from '../../../proto/src/model.js';
import { deepFreeze } from './codecs.js';
import { CompactedError, type KeyValue, type Store, type WatchEvent } from './store.js';

export interface InformerHandler<T> {
  onUpsert?(key: string, obj: Versioned<T>, old: Versioned<T> | undefined): void;
  onDelete?(key: string, old: Versioned<T>): void;
}

/** Wait before re-watching after a watch error (doubles per consecutive failure). */
const REWATCH_INITIAL_MS = 100;
const REWATCH_MAX_MS = 5_000;

export class Informer<T> {
  private cache = new Map<string, Versioned<T>>();
  private handlers: InformerHandler<T>[] = [];
  private indexes = new Map<string, { fn: (obj: T) => string[]; map: Map<string, Set<string>> }>();
  private lastRevision = 0;
  private syncedResolve!: () => void;
  readonly synced: Promise<void> = new Promise((r) => (this.syncedResolve = r));
  private isSynced = false;
  relists = 0;
  /** refresh() asked for a list; its callers wait for it here. */
  private refreshWaiters: Array<() => void> = [];
  private breakWatch: (() => void) | undefined;

  constructor(
    private readonly store: Store,
    readonly prefix: string,
    private readonly decode: (kv: KeyValue) => T,
    private readonly log: Logger,
  ) {}

  get revision(): number {
    return this.lastRevision;
  }

  get hasSynced(): boolean {
    return this.isSynced;
  }

  /** Returns a function that removes the handler again (loops remove theirs when they stop). */
  addHandler(h: InformerHandler<T>): () => void {
    this.handlers.push(h);
    return () => {
      this.handlers = this.handlers.filter((x) => x !== h);
    };
  }

  /** Secondary index: `fn` names the index values an object is found under. */
  addIndex(name: string, fn: (obj: T) => string[]): void {
    const map = new Map<string, Set<string>>();
    for (const [key, v] of this.cache) for (const iv of fn(v.value)) addTo(map, iv, key);
    this.indexes.set(name, { fn, map });
  }

  byIndex(name: string, value: string): Versioned<T>[] {
    const idx = this.indexes.get(name);
    if (!idx) throw new Error(`no index ${name}`);
    const keys = idx.map.get(value);
    if (!keys) return [];
    const out: Versioned<T>[] = [];
    for (const k of keys) {
      const v = this.cache.get(k);
      if (v) out.push(v);
    }
    return out;
  }

  indexValues(name: string): string[] {
    const idx = this.indexes.get(name);
    return idx ? [...idx.map.keys()] : [];
  }

  get(key: string): Versioned<T> | undefined {
    return this.cache.get(key);
  }

  list(): Versioned<T>[] {
    return [...this.cache.values()];
  }

  keys(): string[] {
    return [...this.cache.keys()];
  }

  get size(): number {
    return this.cache.size;
  }

  /**
   * Lists again now (ending the current watch) and resolves once the cache holds that listing:
   * a new leader acts on state read after it won, not on what a long-lived watch may have missed.
   */
  refresh(): Promise<void> {
    return new Promise((resolve) => {
      this.refreshWaiters.push(resolve);
      this.breakWatch?.();
    });
  }

  /** Runs until the signal aborts. */
  async start(signal: AbortSignal): Promise<void> {
    let failures = 0;
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList || this.refreshWaiters.length > 0) {
          const waiters = this.refreshWaiters.splice(0);
          try {
            await this.relist();
          } catch (err) {
            this.refreshWaiters.unshift(...waiters);
            throw err;
          }
          for (const w of waiters) w();
          needList = false;
          failures = 0;
        }
        const watchedFrom = this.lastRevision;
        const err = await this.watchUntilError(signal);
        if (signal.aborted) break;
        if (err instanceof RefreshRequested) continue;
        // A watch that delivered events worked: this failure is the first in a row again.
        if (this.lastRevision > watchedFrom) failures = 0;
        if (err instanceof CompactedError) {
          this.log.info({ prefix: this.prefix, compactRevision: err.compactRevision }, 'watch compacted, listing again');
          needList = true;
          failures = 0;
          continue;
        }
        this.log.warn({ prefix: this.prefix, err: err.message, revision: this.lastRevision }, 'watch ended, resuming');
      } catch (err) {
        this.log.warn({ prefix: this.prefix, err: err instanceof Error ? err.message : String(err) }, 'list failed, retrying');
      }
      await sleep(backoffMs(failures++, REWATCH_INITIAL_MS, REWATCH_MAX_MS), signal);
    }
  }

  private async relist(): Promise<void> {
    const { items, revision } = await this.store.list(this.prefix);
    this.relists++;
    const seen = new Set<string>();
    for (const kv of items) {
      seen.add(kv.key);
      this.apply({ type: 'put', key: kv.key, value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision });
    }
    for (const key of [...this.cache.keys()]) {
      if (!seen.has(key)) this.apply({ type: 'delete', key, value: '', createRevision: 0, modRevision: revision });
    }
    this.lastRevision = revision;
    if (!this.isSynced) {
      this.isSynced = true;
      this.syncedResolve();
    }
  }

  private watchUntilError(signal: AbortSignal): Promise<Error> {
    return new Promise((resolve) => {
      const onAbort = (): void => {
        watch.close();
        resolve(new Error('aborted'));
      };
      this.breakWatch = () => {
        this.breakWatch = undefined;
        signal.removeEventListener('abort', onAbort);
        watch.close();
        resolve(new RefreshRequested());
      };
      const watch = this.store.watch(this.prefix, this.lastRevision, {
        onEvents: (events) => {
          // One transaction gives several events of the same revision: compare with the
          // revision known before this batch, and advance only after it.
          const seen = this.lastRevision;
          let newest = seen;
          for (const e of events) {
            if (e.modRevision <= seen) continue; // already listed
            this.apply(e);
            newest = Math.max(newest, e.modRevision);
          }
          this.lastRevision = newest;
        },
        onError: (err) => {
          this.breakWatch = undefined;
          signal.removeEventListener('abort', onAbort);
          watch.close();
          resolve(err);
        },
      });
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private apply(e: WatchEvent): void {
    const old = this.cache.get(e.key);
    if (e.type === 'delete') {
      if (!old) return;
      this.cache.delete(e.key);
      this.unindex(e.key, old.value);
      for (const h of this.handlers) h.onDelete?.(e.key, old);
      return;
    }
    if (old && old.modRevision >= e.modRevision) return;
    let value: T;
    try {
      value = deepFreeze(this.decode({ key: e.key, value: e.value, createRevision: e.createRevision, modRevision: e.modRevision }));
    } catch (err) {
      this.log.error({ key: e.key, err: err instanceof Error ? err.message : String(err) }, 'undecodable object skipped');
      return;
    }
    const obj: Versioned<T> = Object.freeze({ value, modRevision: e.modRevision, createRevision: e.createRevision });
    if (old) this.unindex(e.key, old.value);
    this.cache.set(e.key, obj);
    for (const idx of this.indexes.values()) for (const iv of idx.fn(value)) addTo(idx.map, iv, e.key);
    for (const h of this.handlers) h.onUpsert?.(e.key, obj, old);
  }

  private unindex(key: string, value: T): void {
    for (const idx of this.indexes.values()) {
      for (const iv of idx.fn(value)) {
        const s = idx.map.get(iv);
        if (!s) continue;
        s.delete(key);
        if (s.size === 0) idx.map.delete(iv);
      }
    }
  }
}

/** The watch was ended to list again (refresh()). */
class RefreshRequested extends Error {
  override readonly name = 'RefreshRequested';
}

function addTo(map: Map<string, Set<string>>, k: string, v: string): void {
  let s = map.get(k);
  if (!s) map.set(k, (s = new Set()));
  s.add(v);
}
