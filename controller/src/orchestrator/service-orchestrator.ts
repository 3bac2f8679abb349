// One shell for both orchestrators (replicated and global services): maps cache events to the
// keys of the services they concern, and per key reads the cache, calls the pure planner of the
// service's kind (slot-plan.ts with its strategy) and commits its changes conditionally. The two
// run as separate loops (their own queue, workers and metrics label) that differ only in their
// strategy: which services are theirs, which node changes concern them, and the planner.
import type { Clock } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import type { NodeRecord, ServiceRecord, TaskRecord, Versioned } from '../../../proto/src/model.js';
import type { RolloutRecord } from '../../../proto/src/lifecycle-model.js';
import { modeOf } from '../../../proto/src/spec/placement.js';
import type { ControllerMetrics, LoopName } from '../metrics/metrics.js';
import { runQueue } from '../reconcile/runner.js';
import { WorkQueue } from '../reconcile/workqueue.js';
import type { ClusterCache } from '../store/cluster.js';
import type { WriteOp } from '../store/store.js';
import { MAX_OPS_PER_TXN, createOp, deleteOp, updateOp, upsertOp } from '../store/ops.js';
import { rolloutCodec, taskCodec } from '../store/codecs.js';
import { rollbackService } from '../store/revisions.js';
import type { EventSink, EventType } from '../events/events.js';
import { serviceKey } from '../model/task-identity.js';
import { effectiveLabels } from '../model/node-attributes.js';
import { planReplicated } from './replicated-plan.js';
import { planGlobal } from './global-plan.js';
import type { NodeLossConfig } from './node-loss-plan.js';
import type { RolloutEvent } from './rollout-plan.js';
import type { ServicePlan } from './slot-plan.js';

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
  return !(
    a.state === b.state &&
    o.desiredState === n.desiredState &&
    o.nodeId === n.nodeId &&
    a.health === b.health &&
    a.container === b.container &&
    a.restarts === b.restarts &&
    !!a.err === !!b.err
  );
}

export interface OrchestratorDeps {
  cache: ClusterCache;
  clock: Clock;
  log: Logger;
  metrics?: ControllerMetrics | undefined;
  events: EventSink;
  workers?: number;
  /** How tasks of lost nodes are handled; the defaults when absent. */
  nodeLoss?: NodeLossConfig | undefined;
}

/** What makes an orchestrator loop replicated or global. */
export interface OrchestratorStrategy {
  loop: LoopName;
  workers: number;
  /** Whether a service is this loop's. A key with no service left is the replicated loop's. */
  owns(svc: ServiceRecord | undefined): boolean;
  /** The service keys a node change concerns. */
  nodeChanged(cache: ClusterCache, n: NodeRecord, old: NodeRecord | undefined): Iterable<string>;
  plan(input: {
    service: ServiceRecord;
    tasks: TaskRecord[];
    cache: ClusterCache;
    nowMs: number;
    rollout: RolloutRecord | undefined;
    nodeLoss: NodeLossConfig | undefined;
  }): ServicePlan;
}

const isGlobal = (s: ServiceRecord): boolean => modeOf(s.spec) === 'global';

/** What of a node decides where global tasks go. */
function placementView(n: NodeRecord): string {
  return JSON.stringify([n.state, n.availability, effectiveLabels(n), n.description.hostname, n.description.os, n.description.arch]);
}

export const replicatedStrategy: OrchestratorStrategy = {
  loop: 'replicated',
  workers: 4,
  owns: (svc) => !svc || !isGlobal(svc),
  nodeChanged: function* (cache, n, old) {
    // Lost, back, drained: the node's tasks are looked at again.
    if (old?.state === n.state && old.availability === n.availability) return;
    for (const t of cache.tasksOfNode(n.id)) yield serviceKey(t.value.namespace, t.value.service);
  },
  plan: ({ service, tasks, cache, nowMs, rollout, nodeLoss }) => {
    const nodes = new Map(cache.nodes.list().map((n) => [n.value.id, n.value]));
    return planReplicated({ service, tasks, nodes, nowMs, rollout, ...(nodeLoss ? { nodeLoss } : {}) });
  },
};

export const globalStrategy: OrchestratorStrategy = {
  loop: 'global',
  workers: 2,
  owns: (svc) => svc !== undefined && isGlobal(svc),
  nodeChanged: function* (cache, n, old) {
    // Every node change that moves where global tasks go concerns every global service.
    if (old && placementView(old) === placementView(n)) return;
    for (const s of cache.services.list()) if (isGlobal(s.value)) yield serviceKey(s.value.meta.namespace, s.value.meta.name);
  },
  plan: ({ service, tasks, cache, nowMs, rollout, nodeLoss }) =>
    planGlobal({ service, tasks, nodes: cache.nodes.list().map((n) => n.value), nowMs, rollout, nodeLoss }),
};

export class ServiceOrchestrator {
  readonly queue: WorkQueue;

  constructor(
    private readonly deps: OrchestratorDeps,
    private readonly strategy: OrchestratorStrategy,
  ) {
    this.queue = new WorkQueue(deps.clock);
  }

  private addService(namespace: string, name: string): void {
    if (this.strategy.owns(this.deps.cache.service(namespace, name)?.value)) this.queue.add(serviceKey(namespace, name));
  }

  async start(signal: AbortSignal): Promise<void> {
    const { cache } = this.deps;
    const enqueueTask = (t: TaskRecord): void => this.addService(t.namespace, t.service);
    const off: Array<() => void> = [
      cache.services.addHandler({
        onUpsert: (_k, s) => this.addService(s.value.meta.namespace, s.value.meta.name),
        onDelete: (_k, s) => this.addService(s.value.meta.namespace, s.value.meta.name),
      }),
      cache.tasks.addHandler({
        onUpsert: (_k, t, old) => {
          if (old && !concernsOrchestrator(old.value, t.value)) return;
          enqueueTask(t.value);
        },
        onDelete: (_k, t) => enqueueTask(t.value),
      }),
      // Pause and resume (written by the API) steer the rolling update.
      cache.rollouts.addHandler({ onUpsert: (_k, r) => this.addService(r.value.namespace, r.value.name) }),
      cache.nodes.addHandler({
        onUpsert: (_k, n, old) => {
          for (const key of this.strategy.nodeChanged(cache, n.value, old?.value)) this.queue.add(key);
        },
        onDelete: (_k, n) => {
          for (const key of this.strategy.nodeChanged(cache, n.value, undefined)) this.queue.add(key);
        },
      }),
    ];
    await cache.synced;
    const resync = (): void => {
      for (const s of cache.services.list()) this.addService(s.value.meta.namespace, s.value.meta.name);
      // Tasks whose service is gone (their records are removed).
      for (const key of cache.tasks.indexValues('service')) {
        const [namespace, name] = key.split('/') as [string, string];
        this.addService(namespace, name);
      }
    };
    resync();
    const timer = setInterval(resync, ORCHESTRATOR_RESYNC_MS);
    try {
      await runQueue({
        loop: this.strategy.loop,
        queue: this.queue,
        reconcile: (key) => this.reconcile(key),
        workers: this.deps.workers ?? this.strategy.workers,
        log: this.deps.log,
        metrics: this.deps.metrics,
        signal,
      });
    } finally {
      clearInterval(timer);
      for (const f of off) f();
    }
  }

  async reconcile(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const { cache, clock } = this.deps;
    const [namespace, name] = key.split('/') as [string, string];
    const svc = cache.service(namespace, name);
    if (!this.strategy.owns(svc?.value)) return;
    const tasks = cache.tasksOfService(namespace, name);
    const byId = new Map<string, Versioned<TaskRecord>>(tasks.map((t) => [t.value.id, t]));
    if (!svc) {
      // Records of a service that no longer exists: remove them (their containers go with them).
      const ops: WriteOp[] = tasks.map((t) => deleteOp(cache.keys.task(t.value.id), t.modRevision));
      await commitChunks(cache, ops);
      return;
    }
    const rollout = cache.rollout(namespace, name);
    const plan = this.strategy.plan({
      service: svc.value,
      tasks: tasks.map((t) => t.value),
      cache,
      nowMs: clock.now(),
      rollout: rollout?.value,
      nodeLoss: this.deps.nodeLoss,
    });
    await applyPlan(this.deps, key, svc, byId, plan, rollout);
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
  plan: ServicePlan,
  rollout: Versioned<RolloutRecord> | undefined,
): Promise<void> {
  const { cache, clock } = deps;
  const { namespace, name } = svc.value.meta;
  const rolloutOps: WriteOp[] = [];
  if (plan.rollout && !plan.rollbackTo) {
    const key = cache.keys.rollout(namespace, name);
    // The record follows the service's revision: written only while the service is still the one
    // planned from. The service and rollout informers are separate watches, so the rollout record
    // of an automatic rollback (written with the new revision in one transaction) can be seen
    // before that revision; a plan from the older service would replace the rollback's record
    // with a plain rollout's and lose why it rolled back.
    rolloutOps.push(
      { op: 'check', key: cache.keys.service(namespace, name), modRevision: svc.modRevision },
      upsertOp(key, rolloutCodec, plan.rollout, rollout),
    );
  }
  await commitPlan(deps, serviceKey, svc, byId, plan, rolloutOps);
  for (const e of plan.rolloutEvents ?? [])
    deps.events.publish({ type: ROLLOUT_EVENT[e.state], namespace, service: name, state: e.state, message: e.message });
  if (plan.rollbackTo) {
    const r = await rollbackService(cache, svc, rollout, plan.rollbackTo.revision, plan.rollbackTo.reason, clock.now());
    if (r.ok) {
      deps.log.info(
        { service: serviceKey, revision: r.revision, to: plan.rollbackTo.revision, reason: plan.rollbackTo.reason },
        'rolling back',
      );
      deps.events.publish({
        type: 'rollout.rollback',
        namespace,
        service: name,
        state: 'rollback_started',
        message: `revision ${svc.value.specRevision} failed (${plan.rollbackTo.reason}): rolling back to the spec of revision ${plan.rollbackTo.revision} as revision ${r.revision}`,
      });
    } else if (plan.rollout) {
      const paused = {
        ...plan.rollout,
        paused: true,
        state: 'paused' as const,
        message: `paused: ${plan.rollbackTo.reason}; cannot roll back: ${r.message}`,
      };
      const key = cache.keys.rollout(namespace, name);
      await cache.store.commit([upsertOp(key, rolloutCodec, paused, rollout)]);
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
  plan: ServicePlan,
  /** Written in the same transactions, first (e.g. the rollout record). */
  extra: WriteOp[] = [],
): Promise<void> {
  const { cache } = deps;
  const { namespace, name } = svc.value.meta;
  const ops: WriteOp[] = [...extra];
  for (const t of plan.create) ops.push(createOp(cache.keys.task(t.id), taskCodec, t));
  for (const u of plan.update) {
    const cur = byId.get(u.taskId);
    if (!cur) continue;
    const next: TaskRecord = { ...cur.value, desiredState: u.desiredState, ...(u.status ? { status: u.status } : {}) };
    ops.push(updateOp(cache.keys.task(u.taskId), taskCodec, next, cur.modRevision));
  }
  for (const id of plan.delete) {
    const cur = byId.get(id);
    if (cur) ops.push(deleteOp(cache.keys.task(id), cur.modRevision));
  }
  if (plan.deleteService) {
    ops.push(deleteOp(cache.keys.service(namespace, name), svc.modRevision));
    ops.push({ op: 'deletePrefix', prefix: cache.keys.revisions(namespace, name) });
    ops.push(deleteOp(cache.keys.rollout(namespace, name)));
  }
  if (ops.length === 0) return;
  await commitChunks(cache, ops);
  deps.log.debug({ service: serviceKey, create: plan.create.length, update: plan.update.length, delete: plan.delete.length }, 'converged');
  for (const u of plan.update) {
    const t = byId.get(u.taskId)?.value;
    if (t && u.status)
      deps.events.publish({
        type: 'task.state',
        namespace,
        service: name,
        node: t.nodeId,
        task: t.id,
        slot: t.slot,
        state: u.status.state,
        message: u.status.message,
      });
  }
  if (plan.deleteService)
    deps.events.publish({ type: 'service.deleted', namespace, service: name, message: 'service and its records removed' });
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
