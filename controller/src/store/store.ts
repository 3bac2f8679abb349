// The Store: the controller's only way to etcd (or its in-memory twin for unit tests).
//
// Every write is conditional. A commit is all-or-nothing: it applies every op only if every op's
// condition holds (create: key absent; update/delete with modRevision: key still at that
// revision), and otherwise throws ConflictError naming the keys that moved, with their current
// revisions. Revisions are etcd's: one global counter, bumped once per successful commit.
// Records are read with their kind's codec (codecs.ts) and written with the op builders (ops.ts).

export { ConflictError, UnavailableError } from '../../../proto/src/errors.js';

export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the commit that created the key (0: absent). */
  createRevision: number;
  /** Revision of the commit that last changed the key. */
  modRevision: number;
}

export type WriteOp =
  /** Create; fails if the key exists. */
  | { op: 'create'; key: string; value: string; leaseId?: string }
  /** Replace; fails unless the key is at modRevision. */
  | { op: 'update'; key: string; value: string; modRevision: number }
  /** Unconditional put: only for derived records keyed so that no one else writes them. */
  | { op: 'put'; key: string; value: string }
  /** Delete; with modRevision, fails unless the key is at it; without, deletes if present. */
  | { op: 'delete'; key: string; modRevision?: number }
  /** Delete every key under a prefix (unconditional). */
  | { op: 'deletePrefix'; prefix: string }
  /** Condition only: the key is at modRevision (0 = absent). */
  | { op: 'check'; key: string; modRevision: number };

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  /** Empty for deletes. */
  value: string;
  createRevision: number;
  /** Revision of this change (for deletes: the revision of the delete). */
  modRevision: number;
}

export interface WatchHandler {
  /** Events in revision order. */
  onEvents(events: WatchEvent[]): void;
  /** The watch ended: CompactedError (re-list needed) or another error. */
  onError(err: Error): void;
}

export interface Watch {
  close(): void;
}

/** The watch's start revision is older than the store keeps: list again. */
export class CompactedError extends Error {
  override readonly name = 'CompactedError';
  constructor(readonly compactRevision: number) {
    super(`watch start revision has been compacted (compact revision ${compactRevision})`);
  }
}

export interface Store {
  get(key: string): Promise<KeyValue | undefined>;
  /** Every key under prefix, and the revision the listing was read at. */
  list(prefix: string): Promise<{ items: KeyValue[]; revision: number }>;
  /**
   * Applies all ops atomically or throws ConflictError; returns the new revision. A commit may
   * name each key once (etcd refuses duplicates).
   */
  commit(ops: WriteOp[]): Promise<number>;
  /** Changes under prefix after fromRevision (exclusive), in order, until closed. */
  watch(prefix: string, fromRevision: number, handler: WatchHandler): Watch;
  close(): Promise<void>;
}
