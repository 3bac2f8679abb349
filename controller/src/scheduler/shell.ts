// Shell of the scheduler: gathers pending tasks into batches, builds a snapshot from the caches,
// calls the pure schedule() and commits each placement conditionally. A placement it committed
// is "assumed" until the cache shows it, so the next batch never double-books a node; a
// conflict drops the assumption and the task waits for the next batch.
import { Notifier, sleep, type Clock } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import type { NodeRecord, Resources, TaskRecord, Versioned } from '../../../proto/src/model.js';
import { isTerminal } from '../../../proto/src/types.js';
import { ConflictError } from '../../../proto/src/errors.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import { serviceKeyOf, type ClusterCache } from '../store/cluster.js';
import type { EventSink } from '../events/events.js';
import { schedule, type PendingTask, type SchedNode } from './scheduler.js';

/** Wait this long after the first pending task so a burst is placed in one batch. */
export const BATCH_DEBOUNCE_MS = 10;
/** Pending tasks are looked at again this often even without a capacity change. */
export const PENDING_RETRY_MS = 5_000;
/** Concurrent placement commits. */
const COMMIT_CONCURRENCY = 32;

/** A task counts against its node while it is meant to run or its container may still run. */
export function holdsResources(t: TaskRecord): boolean {
  return t.nodeId !== '' && !isTerminal(t.status.state);
}

export function reservation(t: TaskRecord): Resources {
  return { cpuMilli: t.spec.resources.cpu, memoryBytes: t.spec.resources.memory };
}

export function effectiveLabels(n: NodeRecord): Record<string, string> {
  return { ...n.description.labels, ...n.labels };
}

export class SchedulerLoop {
  private assumed = new Map<string, string>(); // taskId → nodeId
  private wake = new Notifier();
  private dirty = true;
  private seed = 0;
  private lastReason = new Map<string, string>();

  constructor(private readonly deps: { cache: ClusterCache; clock: Clock; log: Logger; metrics?: ControllerMetrics | undefined; events: EventSink }) {}

  trigger(): void {
    this.dirty = true;
    this.wake.notify();
  }

  async start(signal: AbortSignal): Promise<void> {
    const { cache } = this.deps;
    const off = [cache.tasks.addHandler({
      onUpsert: (_k, t, old) => {
        if (t.value.nodeId === '' && t.value.desiredState === 'running') this.trigger();
        else if (old && holdsResources(old.value) && !holdsResources(t.value)) this.trigger(); // capacity freed
      },
      onDelete: () => this.trigger(),
    }), cache.nodes.addHandler({ onUpsert: () => this.trigger(), onDelete: () => this.trigger() })];
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
        try {
          await this.pass();
        } catch (err) {
          this.deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'scheduling pass failed');
          await sleep(200, signal);
          this.dirty = true;
        }
      }
    } finally {
      clearInterval(retry);
      for (const f of off) f();
    }
  }

  /** Builds the snapshot: nodes with the reservations of their tasks, counting assumptions. */
  snapshot(): { nodes: SchedNode[]; pending: Array<Versioned<TaskRecord>> } {
    const { cache } = this.deps;
    const perNode = new Map<string, { alloc: Resources; byService: Map<string, number>; total: number }>();
    const entry = (nodeId: string) => {
      let e = perNode.get(nodeId);
      if (!e) perNode.set(nodeId, (e = { alloc: { cpuMilli: 0, memoryBytes: 0 }, byService: new Map(), total: 0 }));
      return e;
    };
    const count = (t: TaskRecord, nodeId: string): void => {
      const e = entry(nodeId);
      const r = reservation(t);
      e.alloc.cpuMilli += r.cpuMilli;
      e.alloc.memoryBytes += r.memoryBytes;
      if (t.desiredState === 'running') {
        const sk = serviceKeyOf(t.namespace, t.service);
        e.byService.set(sk, (e.byService.get(sk) ?? 0) + 1);
        e.total++;
      }
    };
    for (const n of cache.nodes.list()) {
      for (const t of cache.tasksOfNode(n.value.id)) if (holdsResources(t.value)) count(t.value, n.value.id);
    }
    const pending: Array<Versioned<TaskRecord>> = [];
    for (const t of cache.tasks.byIndex('unassigned', 'yes')) {
      const assumedNode = this.assumed.get(t.value.id);
      if (assumedNode) count(t.value, assumedNode);
      else pending.push(t);
    }
    // Drop assumptions the cache has caught up with (or whose task is gone).
    for (const [taskId] of this.assumed) {
      const t = cache.tasks.get(cache.keys.task(taskId));
      if (!t || t.value.nodeId !== '' || t.value.desiredState !== 'running') this.assumed.delete(taskId);
    }
    const nodes: SchedNode[] = cache.nodes.list().map((n) => {
      const e = perNode.get(n.value.id);
      return {
        id: n.value.id,
        state: n.value.state,
        availability: n.value.availability,
        capacity: n.value.description.capacity,
        allocated: e?.alloc ?? { cpuMilli: 0, memoryBytes: 0 },
        tasksByService: e?.byService ?? new Map(),
        totalTasks: e?.total ?? 0,
      };
    });
    return { nodes, pending };
  }

  async pass(): Promise<void> {
    const { cache, metrics, log, clock } = this.deps;
    const { nodes, pending } = this.snapshot();
    if (pending.length === 0) {
      metrics?.unschedulable.set(0);
      return;
    }
    const end = metrics?.schedulingLatency.startTimer();
    const byId = new Map(pending.map((t) => [t.value.id, t]));
    const plan = schedule(
      { nodes },
      pending.map((t): PendingTask => ({ id: t.value.id, serviceKey: serviceKeyOf(t.value.namespace, t.value.service), resources: reservation(t.value), ...(t.value.avoidNodes ? { avoidNodes: t.value.avoidNodes } : {}) })),
      this.seed++,
    );
    const now = clock.now();
    const writes: Array<() => Promise<void>> = [];
    for (const a of plan.assignments) {
      const t = byId.get(a.taskId)!;
      this.assumed.set(a.taskId, a.nodeId);
      const next: TaskRecord = { ...t.value, nodeId: a.nodeId, status: { state: 'assigned', message: `assigned to ${a.nodeId}`, timestampMs: now } };
      writes.push(async () => {
        try {
          await cache.store.commit([{ op: 'update', key: cache.keys.task(a.taskId), value: JSON.stringify(next), modRevision: t.modRevision }]);
          metrics?.placements.inc();
          this.lastReason.delete(a.taskId);
        } catch (err) {
          this.assumed.delete(a.taskId);
          if (!(err instanceof ConflictError)) throw err;
          this.trigger();
        }
      });
    }
    for (const u of plan.unplaced) {
      const t = byId.get(u.taskId)!;
      const message = `no suitable node: ${u.reason}`;
      if (t.value.status.message === message) continue;
      const next: TaskRecord = { ...t.value, status: { ...t.value.status, state: 'pending', message, timestampMs: now } };
      writes.push(async () => {
        try {
          await cache.store.commit([{ op: 'update', key: cache.keys.task(u.taskId), value: JSON.stringify(next), modRevision: t.modRevision }]);
          if (this.lastReason.get(u.taskId) !== message) {
            this.lastReason.set(u.taskId, message);
            this.deps.events.publish({ type: 'task.unschedulable', namespace: t.value.namespace, service: t.value.service, task: t.value.id, slot: t.value.slot, message });
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

export async function runLimited(jobs: Array<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      try {
        await job();
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, () => worker()));
  if (errors.length > 0) throw errors[0];
}
