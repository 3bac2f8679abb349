// Revision and rollback writes: the one place that knows how a new revision of a service is
// stored (the service record at its read revision, the revision record, the drop of the revision
// that falls out of the kept window) and how an automatic rollback is committed with its rollout
// record, in one transaction. Used by the API (apply, undo, restart) and the orchestrators.
import type { RevisionRecord, ServiceRecord, Versioned } from '../../../proto/src/model.js';
import type { RolloutRecord } from '../../../proto/src/lifecycle-model.js';
import type { ServiceSpec } from '../../../proto/src/spec/service.js';
import type { Keys } from './keys.js';
import type { Store, WriteOp } from './store.js';
import { revisionCodec, rolloutCodec, serviceCodec } from './codecs.js';
import { deleteOp, putOp, updateOp, upsertOp } from './ops.js';

/** Revisions kept per service (`berth rollout history`, undo). */
export const REVISIONS_KEPT = 10;

/** Ops that store revision `n` of a service and drop the one that falls out of the kept window. */
export function revisionOps(keys: Keys, rev: RevisionRecord): WriteOp[] {
  const ops: WriteOp[] = [putOp(keys.revision(rev.namespace, rev.name, rev.specRevision), revisionCodec, rev)];
  if (rev.specRevision - REVISIONS_KEPT >= 1) ops.push(deleteOp(keys.revision(rev.namespace, rev.name, rev.specRevision - REVISIONS_KEPT)));
  return ops;
}

/**
 * Ops that make `spec` (an earlier revision's, with today's replica count) the service's next
 * revision. Undo and the automatic rollback both use them: a rollback is a rollout like any other.
 */
export function specChangeOps(
  keys: Keys,
  cur: Versioned<ServiceRecord>,
  spec: ServiceSpec,
  cause: string,
  nowMs: number,
  extra: Partial<ServiceRecord> = {},
): { ops: WriteOp[]; record: ServiceRecord } {
  const svc = cur.value;
  const n = svc.specRevision + 1;
  const record: ServiceRecord = { ...svc, ...extra, spec, specRevision: n, meta: { ...svc.meta, updatedAtMs: nowMs } };
  const rev: RevisionRecord = {
    namespace: svc.meta.namespace,
    name: svc.meta.name,
    specRevision: n,
    spec,
    labels: svc.meta.labels,
    createdAtMs: nowMs,
    cause,
  };
  return {
    record,
    ops: [updateOp(keys.service(svc.meta.namespace, svc.meta.name), serviceCodec, record, cur.modRevision), ...revisionOps(keys, rev)],
  };
}

/**
 * The rollout record of an automatic rollback: revision `revision` (the previous spec, re-applied)
 * rolls out like any update; `rollbackOf` marks it so that a failure now pauses instead of
 * rolling back again.
 */
export function rollbackRecord(failed: ServiceRecord, revision: number, toRevision: number, reason: string, nowMs: number): RolloutRecord {
  return {
    namespace: failed.meta.namespace,
    name: failed.meta.name,
    revision,
    previousRevision: toRevision,
    state: 'rollback_started',
    paused: false,
    failedSlots: [],
    rollbackOf: failed.specRevision,
    rollbackReason: reason,
    message: `revision ${failed.specRevision} failed (${reason}): rolling back to the spec of revision ${toRevision}`,
    startedAtMs: nowMs,
    updatedAtMs: nowMs,
    progressAtMs: nowMs,
  };
}

/**
 * The automatic rollback: the spec of `toRevision` becomes the next revision and the rollout
 * record says so, in one transaction. Returns false when that revision is no longer kept.
 */
export async function rollbackService(
  deps: { store: Store; keys: Keys },
  svc: Versioned<ServiceRecord>,
  rec: Versioned<RolloutRecord> | undefined,
  toRevision: number,
  reason: string,
  nowMs: number,
): Promise<{ ok: true; revision: number } | { ok: false; message: string }> {
  const { store, keys } = deps;
  const { namespace, name } = svc.value.meta;
  const kv = await store.get(keys.revision(namespace, name, toRevision));
  if (!kv) return { ok: false, message: `revision ${toRevision} is no longer kept` };
  const old = revisionCodec.decode(kv);
  const spec: ServiceSpec = { ...old.spec, replicas: svc.value.spec.replicas };
  const { ops, record } = specChangeOps(keys, svc, spec, `rollback to ${toRevision} (automatic: ${reason})`, nowMs);
  const next = rollbackRecord(svc.value, record.specRevision, toRevision, reason, nowMs);
  ops.push(upsertOp(keys.rollout(namespace, name), rolloutCodec, next, rec));
  await store.commit(ops);
  return { ok: true, revision: record.specRevision };
}
