// Shell of the scheduler: gathers pending tasks into batches, takes the snapshot of nodes from
// an incremental builder (snapshot.ts: fed the nodes and tasks that changed), calls the pure
// schedule() and commits each placement conditionally. A placement it committed is "assumed"
// until the cache shows it, so the next batch never double-books a node; a conflict drops the
// assumption and the task waits for the next batch. It only places: rebalance moves are the
// orchestrator's (orchestrator/rebalance.ts), busy-port marks the node loop's (nodes/busy-ports.ts).
import { Notifier, sleep, type Clock } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import type { TaskRecord, Versioned } from '../../../proto/src/model.js';
import { ConflictError } from '../../../proto/src/errors.js';
import { UNPLACED_PREFIX } from '../../../proto/src/lifecycle-model.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import type { ClusterCache } from '../store/cluster.js';
import { updateOp } from '../store/ops.js';
import { taskCodec } from '../store/codecs.js';
import type { EventSink } from '../events/events.js';
import { schedule } from './scheduler.js';
import type { SchedNode } from './types.js';
import { RequirementCache, SnapshotBuilder, holdsResources } from './snapshot.js';
import { runLimited } from '../reconcile/limited.js';

/** Wait this long after the first pending task so a burst is placed in one batch. */
export const BATCH_DEBOUNCE_MS = 10;
/** Pending tasks are looked at again this often even without a capacity change. */
export const PENDING_RETRY_MS = 5_000;
/** Concurrent placement commits. */
const COMMIT_CONCURRENCY = 32;

export class SchedulerLoop {
  private assumed = new Map<string, string>(); // taskId → nodeId
  private wake = new Notifier();
  private dirty = true;
  private seed = 0;
  private lastReason = new Map<string, string>();
  private readonly builder = new SnapshotBuilder();
  /** Task and node ids whose records changed since the builder last saw them. */
  private dirtyTasks = new Set<string>();
  private dirtyNodes = new Set<string>();
  /** Everything is reported to the builder again (start, or the cache listed again). */
  private resyncAll = true;

  constructor(
    private readonly deps: { cache: ClusterCache; clock: Clock; log: Logger; metrics?: ControllerMetrics | undefined; events: EventSink },
  ) {}

  trigger(): void {
    this.dirty = true;
    this.wake.notify();
  }

  async start(signal: AbortSignal): Promise<void> {
    const { cache } = this.deps;
    const off = [
      cache.tasks.addHandler({
        onUpsert: (_k, t, old) => {
          this.dirtyTasks.add(t.value.id);
          if (t.value.nodeId === '' && t.value.desiredState === 'running') this.trigger();
          else if (old && holdsResources(old.value) && !holdsResources(t.value)) this.trigger(); // capacity freed
        },
        onDelete: (_k, t) => {
          this.dirtyTasks.add(t.value.id);
          this.trigger();
        },
      }),
      cache.nodes.addHandler({
        onUpsert: (_k, n) => {
          this.dirtyNodes.add(n.value.id);
          this.trigger();
        },
        onDelete: (_k, n) => {
          this.dirtyNodes.add(n.value.id);
          this.trigger();
        },
      }),
    ];
    await cache.synced;
    const retry = setInterval(() => this.trigger(), PENDING_RETRY_MS);
    try {
      while (!signal.aborted) {
        if (!this.dirty) {
          await this.wake.wait(signal);
          continue;
        }
        await sleep(BATCH_DEBOUNCE_MS, signal);
        this.dirty = false;
        const timer = this.deps.metrics?.reconcileDuration.labels('scheduler').startTimer();
        try {
          await this.pass();
          this.deps.metrics?.reconcileTotal.labels('scheduler', 'success').inc();
        } catch (err) {
          this.deps.metrics?.reconcileTotal.labels('scheduler', 'error').inc();
          this.deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'scheduling pass failed');
          await sleep(200, signal);
          this.dirty = true;
        } finally {
          timer?.();
        }
      }
    } finally {
      clearInterval(retry);
      for (const f of off) f();
    }
  }

  /** Marks a task for the builder (its record or its assumption changed). */
  private assume(taskId: string, nodeId: string | undefined): void {
    if (nodeId === undefined) this.assumed.delete(taskId);
    else this.assumed.set(taskId, nodeId);
    this.dirtyTasks.add(taskId);
  }

  /** Brings the builder up to date with the cache and the assumptions: only what changed. */
  private sync(): void {
    const { cache } = this.deps;
    // Drop assumptions the cache has caught up with (or whose task is gone).
    for (const [taskId] of this.assumed) {
      const t = cache.tasks.get(cache.keys.task(taskId));
      if (!t || t.value.nodeId !== '' || t.value.desiredState !== 'running') this.assume(taskId, undefined);
    }
    if (this.resyncAll) {
      this.resyncAll = false;
      for (const id of this.builder.nodeIds()) this.dirtyNodes.add(id);
      for (const n of cache.nodes.list()) this.dirtyNodes.add(n.value.id);
      for (const id of this.builder.taskIds()) this.dirtyTasks.add(id);
      for (const t of cache.tasks.list()) this.dirtyTasks.add(t.value.id);
    }
    for (const id of this.dirtyNodes) this.builder.setNode(id, cache.nodes.get(cache.keys.node(id)));
    this.dirtyNodes.clear();
    for (const id of this.dirtyTasks) {
      const t = cache.tasks.get(cache.keys.task(id));
      this.builder.setTask(id, t, t ? (t.value.nodeId !== '' ? t.value.nodeId : (this.assumed.get(id) ?? '')) : '');
    }
    this.dirtyTasks.clear();
  }

  /** The scheduler's nodes now: what they hold, counting placements committed but not yet seen. */
  nodes(): readonly SchedNode[] {
    this.sync();
    return this.builder.build(this.deps.clock.now());
  }

  /** The snapshot: the nodes, and the pending tasks not already assumed placed. */
  snapshot(): { nodes: readonly SchedNode[]; pending: Array<Versioned<TaskRecord>> } {
    const nodes = this.nodes();
    const pending = this.deps.cache.tasks.byIndex('unassigned', 'yes').filter((t) => !this.assumed.has(t.value.id));
    return { nodes, pending };
  }

  async pass(): Promise<void> {
    const { cache, metrics, log, clock } = this.deps;
    const { nodes, pending } = this.snapshot();
    metrics?.queueDepth.labels('scheduler').set(pending.length);
    if (pending.length === 0) {
      metrics?.unschedulable.set(0);
      return;
    }
    const end = metrics?.schedulingLatency.startTimer();
    const byId = new Map(pending.map((t) => [t.value.id, t]));
    const reqs = new RequirementCache();
    const plan = schedule(
      { nodes },
      pending.map((t) => reqs.pendingTask(t.value, t.value.avoidNodes)),
      this.seed++,
    );
    const now = clock.now();
    const writes: Array<() => Promise<void>> = [];
    for (const a of plan.assignments) {
      const t = byId.get(a.taskId)!;
      this.assume(a.taskId, a.nodeId);
      const next: TaskRecord = {
        ...t.value,
        nodeId: a.nodeId,
        status: { state: 'assigned', message: `assigned to ${a.nodeId}`, timestampMs: now },
      };
      writes.push(async () => {
        try {
          await cache.store.commit([updateOp(cache.keys.task(a.taskId), taskCodec, next, t.modRevision)]);
          metrics?.placements.inc();
          this.lastReason.delete(a.taskId);
        } catch (err) {
          this.assume(a.taskId, undefined);
          if (!(err instanceof ConflictError)) throw err;
          this.trigger();
        }
      });
    }
    for (const u of plan.unplaced) {
      const t = byId.get(u.taskId)!;
      const message = `${UNPLACED_PREFIX}${u.reason}`;
      if (t.value.status.message === message) continue;
      const next: TaskRecord = { ...t.value, status: { ...t.value.status, state: 'pending', message, timestampMs: now } };
      writes.push(async () => {
        try {
          await cache.store.commit([updateOp(cache.keys.task(u.taskId), taskCodec, next, t.modRevision)]);
          if (this.lastReason.get(u.taskId) !== message) {
            this.lastReason.set(u.taskId, message);
            this.deps.events.publish({
              type: 'task.unschedulable',
              namespace: t.value.namespace,
              service: t.value.service,
              task: t.value.id,
              slot: t.value.slot,
              message,
            });
          }
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err;
        }
      });
    }
    await runLimited(writes, COMMIT_CONCURRENCY);
    end?.();
    metrics?.unschedulable.set(plan.unplaced.length);
    if (plan.assignments.length > 0 || plan.unplaced.length > 0) {
      log.debug({ placed: plan.assignments.length, unplaced: plan.unplaced.length }, 'scheduling pass');
    }
  }
}
