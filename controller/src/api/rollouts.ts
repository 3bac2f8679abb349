// Rollouts: status (from the cache), history, undo, restart, pause and resume, and the revision
// writes an automatic rollback makes. Free of gRPC (rollout-server.ts adapts it).
import type { Clock } from '../../../proto/src/clock.js';
import { ConflictError, FailedPreconditionError, NotFoundError, ValidationError } from '../../../proto/src/errors.js';
import type { RevisionRecord, ServiceRecord, TaskRecord, Versioned } from '../../../proto/src/model.js';
import type { RolloutRecord } from '../../../proto/src/lifecycle-model.js';
import { canonicalJson, taskSpecKey, type ServiceSpec } from '../../../proto/src/spec/service.js';
import type { ClusterCache } from '../store/cluster.js';
import type { Keys } from '../store/keys.js';
import type { Store, WriteOp } from '../store/store.js';
import type { EventSink } from '../events/events.js';
import { rolloutProgress, rolloutStuck, startRecord, type RolloutProgress } from '../orchestrator/rollout-plan.js';
import { REVISIONS_KEPT } from './services.js';

export interface RolloutView {
  service: ServiceRecord;
  record: RolloutRecord;
  progress: RolloutProgress;
  /** Why every new task of the current step cannot be placed (rolloutStuck), while the rollout runs. */
  stuck?: string;
}

/** Ops that store revision `n` of a service and drop the one that falls out of the kept window. */
export function revisionOps(keys: Keys, rev: RevisionRecord): WriteOp[] {
  const ops: WriteOp[] = [{ op: 'put', key: keys.revision(rev.namespace, rev.name, rev.specRevision), value: JSON.stringify(rev) }];
  if (rev.specRevision - REVISIONS_KEPT >= 1) ops.push({ op: 'delete', key: keys.revision(rev.namespace, rev.name, rev.specRevision - REVISIONS_KEPT) });
  return ops;
}

/**
 * Ops that make `spec` (an earlier revision's, with today's replica count) the service's next
 * revision. Undo and the automatic rollback both use them: a rollback is a rollout like any other.
 */
export function specChangeOps(keys: Keys, cur: Versioned<ServiceRecord>, spec: ServiceSpec, cause: string, nowMs: number, extra: Partial<ServiceRecord> = {}): { ops: WriteOp[]; record: ServiceRecord } {
  const svc = cur.value;
  const n = svc.specRevision + 1;
  const record: ServiceRecord = { ...svc, ...extra, spec, specRevision: n, meta: { ...svc.meta, updatedAtMs: nowMs } };
  const rev: RevisionRecord = { namespace: svc.meta.namespace, name: svc.meta.name, specRevision: n, spec, labels: svc.meta.labels, createdAtMs: nowMs, cause };
  return {
    record,
    ops: [{ op: 'update', key: keys.service(svc.meta.namespace, svc.meta.name), value: JSON.stringify(record), modRevision: cur.modRevision }, ...revisionOps(keys, rev)],
  };
}

export class RolloutApi {
  constructor(private readonly deps: { store: Store; keys: Keys; cache: ClusterCache; clock: Clock; events: EventSink }) {}

  private async service(namespace: string, name: string): Promise<Versioned<ServiceRecord>> {
    const kv = await this.deps.store.get(this.deps.keys.service(namespace, name));
    if (!kv) throw new NotFoundError(`service ${namespace}/${name}`);
    const svc = { value: JSON.parse(kv.value) as ServiceRecord, modRevision: kv.modRevision, createRevision: kv.createRevision };
    if (svc.value.deleting) throw new FailedPreconditionError(`service ${namespace}/${name} is being deleted`);
    return svc;
  }

  /** Rollout state and progress, from this controller's cache (no etcd round trip). */
  view(namespace: string, name: string): RolloutView {
    const { cache, clock } = this.deps;
    const svc = cache.service(namespace, name)?.value;
    if (!svc) throw new NotFoundError(`service ${namespace}/${name}`);
    const stored = cache.rollout(namespace, name)?.value;
    // Not written yet (the leader has not looked at this revision): it is starting.
    const record = stored && stored.revision === svc.specRevision ? stored : startRecord(svc, stored, clock.now());
    const tasks: TaskRecord[] = cache.tasksOfService(namespace, name).map((t) => t.value);
    const running = (record.state === 'updating' || record.state === 'rollback_started') && !record.paused;
    const stuck = running ? rolloutStuck(svc, tasks) : undefined;
    return { service: svc, record, progress: rolloutProgress(svc, tasks), ...(stuck ? { stuck } : {}) };
  }

  async history(namespace: string, name: string): Promise<RevisionRecord[]> {
    await this.service(namespace, name);
    const { items } = await this.deps.store.list(this.deps.keys.revisions(namespace, name));
    return items.map((kv) => JSON.parse(kv.value) as RevisionRecord).sort((a, b) => a.specRevision - b.specRevision);
  }

  /** Re-applies an earlier revision's spec as a new revision ("rollback to N"). */
  async undo(namespace: string, name: string, toRevision?: number): Promise<{ service: ServiceRecord; toRevision: number; result: 'updated' | 'unchanged' }> {
    const cur = await this.service(namespace, name);
    const revisions = await this.history(namespace, name);
    const currentKey = taskSpecKey(cur.value.spec);
    let target: RevisionRecord | undefined;
    if (toRevision) {
      target = revisions.find((r) => r.specRevision === toRevision);
      if (!target) {
        const kept = revisions.map((r) => r.specRevision).join(', ');
        throw new ValidationError([{ path: 'toRevision', message: `revision ${toRevision} is not kept (kept: ${kept || 'none'})` }], 'request');
      }
    } else {
      target = [...revisions].reverse().find((r) => r.specRevision < cur.value.specRevision && taskSpecKey({ ...r.spec, replicas: 0 }) !== taskSpecKey({ ...cur.value.spec, replicas: 0 }));
      if (!target) throw new FailedPreconditionError(`service ${namespace}/${name} has no earlier revision with another spec to go back to`);
    }
    const spec: ServiceSpec = { ...target.spec, replicas: cur.value.spec.replicas };
    if (canonicalJson(spec) === canonicalJson(cur.value.spec) && taskSpecKey(spec) === currentKey) return { service: cur.value, toRevision: target.specRevision, result: 'unchanged' };
    const { ops, record } = specChangeOps(this.deps.keys, cur, spec, `rollback to ${target.specRevision}`, this.deps.clock.now());
    await this.deps.store.commit(ops);
    this.deps.events.publish({ type: 'rollout.undo', namespace, service: name, message: `revision ${record.specRevision}: rollback to ${target.specRevision}` });
    return { service: record, toRevision: target.specRevision, result: 'updated' };
  }

  /** Replaces every replica with a fresh container, by the rolling update (a new revision, same spec). */
  async restart(namespace: string, name: string): Promise<ServiceRecord> {
    const cur = await this.service(namespace, name);
    const { ops, record } = specChangeOps(this.deps.keys, cur, cur.value.spec, 'restart', this.deps.clock.now(), { restartGeneration: (cur.value.restartGeneration ?? 0) + 1 });
    await this.deps.store.commit(ops);
    this.deps.events.publish({ type: 'rollout.restart', namespace, service: name, message: `revision ${record.specRevision}: restart every replica` });
    return record;
  }

  async pause(namespace: string, name: string): Promise<RolloutRecord> {
    return this.setPaused(namespace, name, true);
  }

  async resume(namespace: string, name: string): Promise<RolloutRecord> {
    return this.setPaused(namespace, name, false);
  }

  private async setPaused(namespace: string, name: string, paused: boolean): Promise<RolloutRecord> {
    const { store, keys, clock } = this.deps;
    for (let attempt = 0; attempt < 5; attempt++) {
      const svc = await this.service(namespace, name);
      const kv = await store.get(keys.rollout(namespace, name));
      const stored = kv ? (JSON.parse(kv.value) as RolloutRecord) : undefined;
      const now = clock.now();
      const base = stored && stored.revision === svc.value.specRevision ? stored : startRecord(svc.value, stored, now);
      const rollingBack = base.rollbackOf !== undefined;
      const next: RolloutRecord = paused
        ? { ...base, paused: true, state: base.state === 'completed' || base.state === 'rollback_completed' ? base.state : rollingBack ? 'rollback_paused' : 'paused', message: 'paused by the user (berth rollout resume)', updatedAtMs: now }
        : { ...withoutDeadline(base), paused: false, failedSlots: [], state: base.state === 'completed' || base.state === 'rollback_completed' ? base.state : rollingBack ? 'rollback_started' : 'updating', message: `resumed: rolling out revision ${base.revision}`, updatedAtMs: now, progressAtMs: now };
      const op: WriteOp = kv
        ? { op: 'update', key: keys.rollout(namespace, name), value: JSON.stringify(next), modRevision: kv.modRevision }
        : { op: 'create', key: keys.rollout(namespace, name), value: JSON.stringify(next) };
      try {
        await store.commit([op]);
        this.deps.events.publish({ type: paused ? 'rollout.paused' : 'rollout.resumed', namespace, service: name, message: next.message });
        return next;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    throw new ConflictError(`rollout of ${namespace}/${name} kept changing; try again`);
  }
}

/** A resumed rollout starts its progress deadline over. */
function withoutDeadline(r: RolloutRecord): RolloutRecord {
  const { deadlineExceeded: _, ...rest } = r;
  return rest;
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
  const old = JSON.parse(kv.value) as RevisionRecord;
  const spec: ServiceSpec = { ...old.spec, replicas: svc.value.spec.replicas };
  const { ops, record } = specChangeOps(keys, svc, spec, `rollback to ${toRevision} (automatic: ${reason})`, nowMs);
  const next = rollbackRecord(svc.value, record.specRevision, toRevision, reason, nowMs);
  ops.push(rec
    ? { op: 'update', key: keys.rollout(namespace, name), value: JSON.stringify(next), modRevision: rec.modRevision }
    : { op: 'create', key: keys.rollout(namespace, name), value: JSON.stringify(next) });
  await store.commit(ops);
  return { ok: true, revision: record.specRevision };
}
