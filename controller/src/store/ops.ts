// Write-op builders: every record write goes through its kind's codec, and each builder names the
// condition it carries (DESIGN: every write is conditional). `putOp` is the unconditional
// exception, only for records keyed so that no one else writes them (revisions, credentials).
import type { Codec } from './codecs.js';
import type { WriteOp } from './store.js';

/**
 * Most ops in one commit: etcd's default limit is 128 per transaction (--max-txn-ops); this stays
 * below it with room for the leader's fencing check (FencedStore adds one op to every commit).
 * Every chunked commit uses it.
 */
export const MAX_OPS_PER_TXN = 100;

/** Create `value` at `key`; fails if the key exists. */
export function createOp<T>(key: string, codec: Codec<T>, value: T): WriteOp {
  return { op: 'create', key, value: codec.encode(value) };
}

/** Replace the record at `key`; fails unless it is still at `modRevision` (the revision it was read at). */
export function updateOp<T>(key: string, codec: Codec<T>, value: T, modRevision: number): WriteOp {
  return { op: 'update', key, value: codec.encode(value), modRevision };
}

/** Create, or update at the revision of `existing` (what the caller read; undefined: it was absent). */
export function upsertOp<T>(key: string, codec: Codec<T>, value: T, existing: { modRevision: number } | undefined): WriteOp {
  return existing ? updateOp(key, codec, value, existing.modRevision) : createOp(key, codec, value);
}

/** Unconditional write: only for records keyed so that no one else writes them. */
export function putOp<T>(key: string, codec: Codec<T>, value: T): WriteOp {
  return { op: 'put', key, value: codec.encode(value) };
}

/** Delete; with modRevision, only if the key is still at it; without, if present. */
export function deleteOp(key: string, modRevision?: number): WriteOp {
  return modRevision === undefined ? { op: 'delete', key } : { op: 'delete', key, modRevision };
}
