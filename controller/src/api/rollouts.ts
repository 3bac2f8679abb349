// Rollouts: status (from the cache), history, undo, restart, pause and resume, and the revision
// writes an automatic rollback makes. Free of gRPC (rollout-server.ts adapts it).
import type { Clock } from '../../../proto/src/clock.js';
import { ConflictError, FailedPreconditionError, NotFoundError, ValidationError } from '../../../proto/src/errors.js';
import type { RevisionRecord, ServiceRecord, TaskRecord, Versioned } from '../../../proto/src/model.js';
import type { RolloutRecord } from '../../../proto/src/lifecycle-model.js';
import { canonicalJson, taskSpecKey, type ServiceSpec } from '../../../proto/src/spec/service.js';
import type { ClusterCache } from '../store/cluster.js';
import type { Keys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { decodeVersioned, revisionCodec, rolloutCodec, serviceCodec } from '../store/codecs.js';
import { upsertOp } from '../store/ops.js';
import { retryOnConflict } from '../store/retry.js';
import type { EventSink } from '../events/events.js';
import { rolloutProgress, rolloutStuck, startRecord, type RolloutProgress } from '../orchestrator/rollout-plan.js';
import { specChangeOps } from '../store/revisions.js';

export interface RolloutView {
  service: ServiceRecord;
  record: RolloutRecord;
  progress: RolloutProgress;
  /** Why every new task of the current step cannot be placed (rolloutStuck), while the rollout runs. */
  stuck?: string;
}

export class RolloutApi {
  constructor(private readonly deps: { store: Store; keys: Keys; cache: ClusterCache; clock: Clock; events: EventSink }) {}

  private async service(namespace: string, name: string): Promise<Versioned<ServiceRecord>> {
    const kv = await this.deps.store.get(this.deps.keys.service(namespace, name));
    if (!kv) throw new NotFoundError(`service ${namespace}/${name}`);
    const svc = decodeVersioned(serviceCodec, kv);
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
    return items.map((kv) => revisionCodec.decode(kv)).sort((a, b) => a.specRevision - b.specRevision);
  }

  /** Re-applies an earlier revision's spec as a new revision ("rollback to N"). */
  async undo(
    namespace: string,
    name: string,
    toRevision?: number,
  ): Promise<{ service: ServiceRecord; toRevision: number; result: 'updated' | 'unchanged' }> {
    const cur = await this.service(namespace, name);
    const revisions = await this.history(namespace, name);
    const currentKey = taskSpecKey(cur.value.spec);
    let target: RevisionRecord | undefined;
    if (toRevision) {
      target = revisions.find((r) => r.specRevision === toRevision);
      if (!target) {
        const kept = revisions.map((r) => r.specRevision).join(', ');
        throw new ValidationError(
          [{ path: 'toRevision', message: `revision ${toRevision} is not kept (kept: ${kept || 'none'})` }],
          'request',
        );
      }
    } else {
      target = [...revisions]
        .reverse()
        .find(
          (r) =>
            r.specRevision < cur.value.specRevision &&
            taskSpecKey({ ...r.spec, replicas: 0 }) !== taskSpecKey({ ...cur.value.spec, replicas: 0 }),
        );
      if (!target)
        throw new FailedPreconditionError(`service ${namespace}/${name} has no earlier revision with another spec to go back to`);
    }
    const spec: ServiceSpec = { ...target.spec, replicas: cur.value.spec.replicas };
    if (canonicalJson(spec) === canonicalJson(cur.value.spec) && taskSpecKey(spec) === currentKey)
      return { service: cur.value, toRevision: target.specRevision, result: 'unchanged' };
    const { ops, record } = specChangeOps(this.deps.keys, cur, spec, `rollback to ${target.specRevision}`, this.deps.clock.now());
    await this.deps.store.commit(ops);
    this.deps.events.publish({
      type: 'rollout.undo',
      namespace,
      service: name,
      message: `revision ${record.specRevision}: rollback to ${target.specRevision}`,
    });
    return { service: record, toRevision: target.specRevision, result: 'updated' };
  }

  /** Replaces every replica with a fresh container, by the rolling update (a new revision, same spec). */
  async restart(namespace: string, name: string): Promise<ServiceRecord> {
    const cur = await this.service(namespace, name);
    const { ops, record } = specChangeOps(this.deps.keys, cur, cur.value.spec, 'restart', this.deps.clock.now(), {
      restartGeneration: (cur.value.restartGeneration ?? 0) + 1,
    });
    await this.deps.store.commit(ops);
    this.deps.events.publish({
      type: 'rollout.restart',
      namespace,
      service: name,
      message: `revision ${record.specRevision}: restart every replica`,
    });
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
    return retryOnConflict(
      async () => {
        const svc = await this.service(namespace, name);
        const kv = await store.get(keys.rollout(namespace, name));
        const stored = kv ? rolloutCodec.decode(kv) : undefined;
        const now = clock.now();
        const base = stored && stored.revision === svc.value.specRevision ? stored : startRecord(svc.value, stored, now);
        const rollingBack = base.rollbackOf !== undefined;
        const next: RolloutRecord = paused
          ? {
              ...base,
              paused: true,
              state:
                base.state === 'completed' || base.state === 'rollback_completed' ? base.state : rollingBack ? 'rollback_paused' : 'paused',
              message: 'paused by the user (berth rollout resume)',
              updatedAtMs: now,
            }
          : {
              ...withoutDeadline(base),
              paused: false,
              failedSlots: [],
              state:
                base.state === 'completed' || base.state === 'rollback_completed'
                  ? base.state
                  : rollingBack
                    ? 'rollback_started'
                    : 'updating',
              message: `resumed: rolling out revision ${base.revision}`,
              updatedAtMs: now,
              progressAtMs: now,
            };
        await store.commit([upsertOp(keys.rollout(namespace, name), rolloutCodec, next, kv)]);
        this.deps.events.publish({ type: paused ? 'rollout.paused' : 'rollout.resumed', namespace, service: name, message: next.message });
        return next;
      },
      { exhausted: () => new ConflictError(`rollout of ${namespace}/${name} kept changing; try again`) },
    );
  }
}

/** A resumed rollout starts its progress deadline over. */
function withoutDeadline(r: RolloutRecord): RolloutRecord {
  const { deadlineExceeded: _, ...rest } = r;
  return rest;
}
