// Shell of the replicated orchestrator: maps cache events to service keys, and per key reads
// the cache, calls the pure planner and commits its changes conditionally.
import type { Clock } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import type { ServiceRecord, TaskRecord, Versioned } from '../../../proto/src/model.js';
import type { RolloutRecord } from '../../../proto/src/lifecycle-model.js';
import { modeOf } from '../../../proto/src/spec/placement.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import { runQueue } from '../reconcile/runner.js';
import { WorkQueue } from '../reconcile/workqueue.js';
import type { ClusterCache } from '../store/cluster.js';
import { serviceKey } from '../model/task-identity.js';
import type { WriteOp } from '../store/store.js';
import { MAX_OPS_PER_TXN } from '../store/ops.js';
import type { EventSink } from '../events/events.js';
import { planReplicated, type ReplicatedPlan } from './replicated-plan.js';
import type { NodeLossConfig } from './node-loss-plan.js';
import type { RolloutEvent } from './rollout-plan.js';
import type { EventType } from '../events/events.js';
import { rollbackService } from '../store/revisions.js';

/** Every service is looked at this often even without events (level-triggered safety net). */
export const ORCHESTRATOR_RESYNC_MS = 30_000;

/**
 * Whether a task update matters to an orchestrator (replicated or global): its state, desired
 * state or node, or what readiness and rollout failure are judged on (isReady, hasFailed: health,
 * container phase, in-place restarts, an error). Other status chatter changes nothing for the plan.
 */
export function concernsOrchestrator(o: TaskRecord, n: TaskRecord): boolean {
  const a = o.status;
  const b = n.status;
  return !(a.state === b.state && o.desiredState === n.desiredState && o.nodeId === n.nodeId && a.health === b.health && a.container === b.container && a.restarts === b.restarts && !!a.err === !!b.err);
}

export class ReplicatedOrchestrator {
  readonly queue: WorkQueue;

  constructor(
    private readonly deps: { cache: ClusterCache; clock: Clock; log: Logger; metrics?: ControllerMetrics | undefined; events: EventSink; workers?: number; nodeLoss?: NodeLossConfig },
  ) {
    this.queue = new WorkQueue(deps.clock);
  }

  async start(signal: AbortSignal): Promise<void> {
    const { cache } = this.deps;
    const enqueueTask = (t: TaskRecord): void => this.queue.add(serviceKey(t.namespace, t.service));
    const off: Array<() => void> = [];
    off.push(cache.services.addHandler({
      onUpsert: (_k, s) => this.queue.add(serviceKey(s.value.meta.namespace, s.value.meta.name)),
      onDelete: (_k, s) => this.queue.add(serviceKey(s.value.meta.namespace, s.value.meta.name)),
    }));
    off.push(cache.tasks.addHandler({
      onUpsert: (_k, t, old) => {
        if (old && !concernsOrchestrator(old.value, t.value)) return;
        enqueueTask(t.value);
      },
      onDelete: (_k, t) => enqueueTask(t.value),
    }));
    // Pause and resume (written by the API) steer the rolling update.
    off.push(cache.rollouts.addHandler({
      onUpsert: (_k, r) => this.queue.add(serviceKey(r.value.namespace, r.value.name)),
    }));
    off.push(cache.nodes.addHandler({
      onUpsert: (_k, n, old) => {
        if (old?.value.state === n.value.state && old.value.availability === n.value.availability) return;
        for (const t of cache.tasksOfNode(n.value.id)) enqueueTask(t.value);
      },
    }));
    await cache.synced;
    const resync = (): void => {
      for (const s of cache.services.list()) this.queue.add(serviceKey(s.value.meta.namespace, s.value.meta.name));
      for (const key of cache.tasks.indexValues('service')) this.queue.add(key);
    };
    resync();
    const timer = setInterval(resync, ORCHESTRATOR_RESYNC_MS);
    try {
      await runQueue({
        loop: 'replicated',
        queue: this.queue,
        reconcile: (key) => this.reconcile(key),
        workers: this.deps.workers ?? 4,
        log: this.deps.log,
        metrics: this.deps.metrics,
        signal,
      });
    } finally {
      clearInterval(timer);
      for (const f of off) f();
    }
  }

  async reconcile(serviceKey: string): Promise<{ requeueAfterMs?: number } | void> {
    const { cache, clock } = this.deps;
    const [namespace, name] = serviceKey.split('/') as [string, string];
    const svc = cache.service(namespace, name);
    if (svc && modeOf(svc.value.spec) === 'global') return; // the global orchestrator's
    const tasks = cache.tasksOfService(namespace, name);
    const byId = new Map<string, Versioned<TaskRecord>>(tasks.map((t) => [t.value.id, t]));
    if (!svc) {
      // Records of a service that no longer exists: remove them (their containers go with them).
      const ops: WriteOp[] = tasks.map((t) => ({ op: 'delete', key: cache.keys.task(t.value.id), modRevision: t.modRevision }));
      await commitChunks(cache, ops);
      return;
    }
    const nodes = new Map(cache.nodes.list().map((n) => [n.value.id, n.value]));
    const rollout = cache.rollout(namespace, name);
    const plan = planReplicated({ service: svc.value, tasks: tasks.map((t) => t.value), nodes, nowMs: clock.now(), rollout: rollout?.value, ...(this.deps.nodeLoss ? { nodeLoss: this.deps.nodeLoss } : {}) });
    await applyPlan(this.deps, serviceKey, svc, byId, plan, rollout);
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
  }
}

/**
 * Commits an orchestrator plan (replicated or global): the rollout record with the task changes,
 * then the rollout's events and, when its failureAction says so, the rollback.
 */
export async function applyPlan(
  deps: { cache: ClusterCache; clock: Clock; log: Logger; events: EventSink },
  serviceKey: string,
  svc: Versioned<ServiceRecord>,
  byId: ReadonlyMap<string, Versioned<TaskRecord>>,
  plan: ReplicatedPlan,
  rollout: Versioned<RolloutRecord> | undefined,
): Promise<void> {
  const { cache, clock } = deps;
  const { namespace, name } = svc.value.meta;
  const rolloutOps: WriteOp[] = [];
  if (plan.rollout && !plan.rollbackTo) {
    const key = cache.keys.rollout(namespace, name);
    rolloutOps.push(rollout ? { op: 'update', key, value: JSON.stringify(plan.rollout), modRevision: rollout.modRevision } : { op: 'create', key, value: JSON.stringify(plan.rollout) });
  }
  await commitPlan(deps, serviceKey, svc, byId, plan, rolloutOps);
  for (const e of plan.rolloutEvents ?? []) deps.events.publish({ type: ROLLOUT_EVENT[e.state], namespace, service: name, state: e.state, message: e.message });
  if (plan.rollbackTo) {
    const r = await rollbackService(cache, svc, rollout, plan.rollbackTo.revision, plan.rollbackTo.reason, clock.now());
    if (r.ok) {
      deps.log.info({ service: serviceKey, revision: r.revision, to: plan.rollbackTo.revision, reason: plan.rollbackTo.reason }, 'rolling back');
      deps.events.publish({ type: 'rollout.rollback', namespace, service: name, state: 'rollback_started', message: `revision ${svc.value.specRevision} failed (${plan.rollbackTo.reason}): rolling back to the spec of revision ${plan.rollbackTo.revision} as revision ${r.revision}` });
    } else if (plan.rollout) {
      const paused = { ...plan.rollout, paused: true, state: 'paused' as const, message: `paused: ${plan.rollbackTo.reason}; cannot roll back: ${r.message}` };
      const key = cache.keys.rollout(namespace, name);
      await cache.store.commit([rollout ? { op: 'update', key, value: JSON.stringify(paused), modRevision: rollout.modRevision } : { op: 'create', key, value: JSON.stringify(paused) }]);
      deps.events.publish({ type: 'rollout.paused', namespace, service: name, state: 'paused', message: paused.message });
    }
  }
}

const ROLLOUT_EVENT: Record<RolloutEvent['state'], EventType> = {
  updating: 'rollout.started',
  paused: 'rollout.paused',
  completed: 'rollout.completed',
  rollback_started: 'rollout.rollback',
  rollback_paused: 'rollout.paused',
  rollback_completed: 'rollout.completed',
  failure: 'rollout.failure',
};

/** Writes an orchestrator plan (replicated or global) conditionally and publishes its events. */
export async function commitPlan(
  deps: { cache: ClusterCache; log: Logger; events: EventSink },
  serviceKey: string,
  svc: Versioned<ServiceRecord>,
  byId: ReadonlyMap<string, Versioned<TaskRecord>>,
  plan: ReplicatedPlan,
  /** Written in the same transactions, first (e.g. the rollout record). */
  extra: WriteOp[] = [],
): Promise<void> {
  const { cache } = deps;
  const { namespace, name } = svc.value.meta;
  const ops: WriteOp[] = [...extra];
  for (const t of plan.create) ops.push({ op: 'create', key: cache.keys.task(t.id), value: JSON.stringify(t) });
  for (const u of plan.update) {
    const cur = byId.get(u.taskId);
    if (!cur) continue;
    const next: TaskRecord = { ...cur.value, desiredState: u.desiredState, ...(u.status ? { status: u.status } : {}) };
    ops.push({ op: 'update', key: cache.keys.task(u.taskId), value: JSON.stringify(next), modRevision: cur.modRevision });
  }
  for (const id of plan.delete) {
    const cur = byId.get(id);
    if (cur) ops.push({ op: 'delete', key: cache.keys.task(id), modRevision: cur.modRevision });
  }
  if (plan.deleteService) {
    ops.push({ op: 'delete', key: cache.keys.service(namespace, name), modRevision: svc.modRevision });
    ops.push({ op: 'deletePrefix', prefix: cache.keys.revisions(namespace, name) });
    ops.push({ op: 'delete', key: cache.keys.rollout(namespace, name) });
  }
  if (ops.length === 0) return;
  await commitChunks(cache, ops);
  deps.log.debug({ service: serviceKey, create: plan.create.length, update: plan.update.length, delete: plan.delete.length }, 'converged');
  for (const u of plan.update) {
    const t = byId.get(u.taskId)?.value;
    if (t && u.status) deps.events.publish({ type: 'task.state', namespace, service: name, node: t.nodeId, task: t.id, slot: t.slot, state: u.status.state, message: u.status.message });
  }
  if (plan.deleteService) deps.events.publish({ type: 'service.deleted', namespace, service: name, message: 'service and its records removed' });
}

/**
 * Commits ops in transactions of at most MAX_OPS_PER_TXN. Creates go before updates and deletes
 * of the service record last, so a chunk boundary never loses the service before its tasks.
 */
export async function commitChunks(cache: Pick<ClusterCache, 'store'>, ops: WriteOp[]): Promise<void> {
  for (let i = 0; i < ops.length; i += MAX_OPS_PER_TXN) {
    await cache.store.commit(ops.slice(i, i + MAX_OPS_PER_TXN));
  }
}
