// Shell of the scheduler: gathers pending tasks into batches, builds a snapshot from the caches,
// calls the pure schedule() and commits each placement conditionally. A placement it committed
// is "assumed" until the cache shows it, so the next batch never double-books a node; a
// conflict drops the assumption and the task waits for the next batch. It also marks a node's
// host port as held outside Berth when a task failed to bind it (ports.ts).
import { Notifier, sleep, type Clock } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import type { NodeRecord, TaskRecord, Versioned } from '../../../proto/src/model.js';
import { ConflictError } from '../../../proto/src/errors.js';
import { UNPLACED_PREFIX } from '../../../proto/src/lifecycle-model.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import type { ClusterCache } from '../store/cluster.js';
import { serviceKey } from '../model/task-identity.js';
import type { EventSink } from '../events/events.js';
import { schedule, type SchedNode } from './scheduler.js';
import { RequirementCache, buildNodes, holdsResources } from './snapshot.js';
import { holdPort, portConflictOf } from './ports.js';
import { planRebalance } from './rebalance-plan.js';
import { newTask, instanceOf } from '../model/task-identity.js';
import { runLimited } from '../reconcile/limited.js';


/** Wait this long after the first pending task so a burst is placed in one batch. */
export const BATCH_DEBOUNCE_MS = 10;
/** Pending tasks are looked at again this often even without a capacity change. */
export const PENDING_RETRY_MS = 5_000;
/** Concurrent placement commits. */
const COMMIT_CONCURRENCY = 32;
/** Rebalancing is looked at no more often than this (it asks the scheduler once per candidate node). */
export const REBALANCE_CHECK_MS = 1_000;
/** After a rebalance move had to be given up (its new task did not run), the service waits this long. */
export const REBALANCE_BACKOFF_MS = 5 * 60_000;
/** Attempts at marking a node's port busy before giving up (the next failure marks it again). */
const PORT_MARK_ATTEMPTS = 5;

export class SchedulerLoop {
  private assumed = new Map<string, string>(); // taskId → nodeId
  private wake = new Notifier();
  private dirty = true;
  private seed = 0;
  private lastReason = new Map<string, string>();
  private portMarks: Promise<void> = Promise.resolve();
  private lastRebalanceMs = 0;
  private rebalanceTimer: NodeJS.Timeout | undefined;
  /** serviceKey → no rebalance moves before this time (a move was given up). */
  private rebalanceBackoff = new Map<string, number>();

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
        if (t.value.handoverFrom && old?.value.desiredState === 'running' && t.value.desiredState !== 'running' && t.value.status.state !== 'running') {
          // A start-first move ended without its new task running (e.g. a rebalance that timed out).
          this.rebalanceBackoff.set(serviceKey(t.value.namespace, t.value.service), this.deps.clock.now() + REBALANCE_BACKOFF_MS);
        }
        // Only a failure seen happening: one found in the initial listing was marked by whoever saw it.
        if (old && t.value.nodeId !== '' && old.value.status.state !== t.value.status.state) {
          const conflict = portConflictOf(t.value);
          if (conflict) this.markPort(t.value.nodeId, conflict, t.value.id);
        }
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
      if (this.rebalanceTimer) clearTimeout(this.rebalanceTimer);
      for (const f of off) f();
      await this.portMarks;
    }
  }

  /** Records on the node that a host port is held outside Berth (conditional write, retried on conflict). */
  private markPort(nodeId: string, port: { protocol: string; port: number; hostIp: string }, taskId: string): void {
    const { cache, clock, log } = this.deps;
    this.portMarks = this.portMarks.then(async () => {
      for (let i = 0; i < PORT_MARK_ATTEMPTS; i++) {
        const cur = cache.nodes.get(cache.keys.node(nodeId));
        if (!cur) return;
        const next: NodeRecord = { ...cur.value, unavailablePorts: holdPort(cur.value, port, clock.now()) };
        try {
          await cache.store.commit([{ op: 'update', key: cache.keys.node(nodeId), value: JSON.stringify(next), modRevision: cur.modRevision }]);
          log.info({ node: nodeId, port: `${port.port}/${port.protocol}`, task: taskId }, 'host port held outside Berth; keeping tasks that need it off the node for a while');
          this.deps.events.publish({ type: 'node.state', node: nodeId, state: cur.value.state, message: `port ${port.port}/${port.protocol} in use on the host (not by Berth); task ${taskId} could not bind it` });
          return;
        } catch (err) {
          if (!(err instanceof ConflictError)) {
            log.warn({ node: nodeId, err: err instanceof Error ? err.message : String(err) }, 'marking a busy port failed');
            return;
          }
          await sleep(20 * (i + 1));
        }
      }
    });
  }

  /** Builds the snapshot: nodes with the reservations and ports of their tasks, counting assumptions. */
  snapshot(): { nodes: SchedNode[]; pending: Array<Versioned<TaskRecord>> } {
    const { cache, clock } = this.deps;
    const placed: Array<{ task: TaskRecord; nodeId: string }> = [];
    for (const n of cache.nodes.list()) {
      for (const t of cache.tasksOfNode(n.value.id)) if (holdsResources(t.value)) placed.push({ task: t.value, nodeId: n.value.id });
    }
    const pending: Array<Versioned<TaskRecord>> = [];
    for (const t of cache.tasks.byIndex('unassigned', 'yes')) {
      const assumedNode = this.assumed.get(t.value.id);
      if (assumedNode) placed.push({ task: t.value, nodeId: assumedNode });
      else pending.push(t);
    }
    // Drop assumptions the cache has caught up with (or whose task is gone).
    for (const [taskId] of this.assumed) {
      const t = cache.tasks.get(cache.keys.task(taskId));
      if (!t || t.value.nodeId !== '' || t.value.desiredState !== 'running') this.assumed.delete(taskId);
    }
    return { nodes: buildNodes(cache.nodes.list().map((n) => n.value), placed, clock.now()), pending };
  }

  async pass(): Promise<void> {
    const { cache, metrics, log, clock } = this.deps;
    const { nodes, pending } = this.snapshot();
    metrics?.queueDepth.labels('scheduler').set(pending.length);
    await this.rebalance(nodes);
    if (pending.length === 0) {
      metrics?.unschedulable.set(0);
      return;
    }
    const end = metrics?.schedulingLatency.startTimer();
    const byId = new Map(pending.map((t) => [t.value.id, t]));
    const reqs = new RequirementCache();
    const plan = schedule({ nodes }, pending.map((t) => reqs.pendingTask(t.value, t.value.avoidNodes)), this.seed++);
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
      const message = `${UNPLACED_PREFIX}${u.reason}`;
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

  /**
   * Opt-in rebalancing: for services with placement.rebalance, start-first moves onto nodes that
   * have too few of their replicas (rebalance-plan.ts). A move is a new task in the same slot,
   * created only while the old task is unchanged; the orchestrator stops the old one once the
   * new one runs.
   */
  private async rebalance(nodes: SchedNode[]): Promise<void> {
    const { cache, clock, log, events } = this.deps;
    // Nothing opted in: no look, and no timer for another pass.
    const opted = cache.services.list().filter((s) => s.value.spec.placement?.rebalance);
    if (opted.length === 0) return;
    const now = clock.now();
    if (now - this.lastRebalanceMs < REBALANCE_CHECK_MS) {
      // Too soon: look again when it is time (a move that just finished may allow the next).
      this.rebalanceTimer ??= setTimeout(() => {
        this.rebalanceTimer = undefined;
        this.trigger();
      }, REBALANCE_CHECK_MS - (now - this.lastRebalanceMs));
      return;
    }
    this.lastRebalanceMs = now;
    for (const s of opted) {
      const svc = s.value;
      const sk = serviceKey(svc.meta.namespace, svc.meta.name);
      if ((this.rebalanceBackoff.get(sk) ?? 0) > now) continue;
      const tasks = cache.tasksOfService(svc.meta.namespace, svc.meta.name);
      const moves = planRebalance({ nodes, service: svc, tasks: tasks.map((t) => t.value), seed: this.seed });
      for (const m of moves) {
        const old = tasks.find((t) => t.value.id === m.task.id)!;
        const slotTasks = tasks.filter((t) => t.value.slot === m.task.slot).map((t) => instanceOf(t.value));
        const next: TaskRecord = { ...newTask(svc, m.task.slot, Math.max(...slotTasks) + 1, now), handoverFrom: m.task.id };
        try {
          await cache.store.commit([
            { op: 'create', key: cache.keys.task(next.id), value: JSON.stringify(next) },
            { op: 'check', key: cache.keys.task(old.value.id), modRevision: old.modRevision },
          ]);
          log.info({ service: sk, slot: m.task.slot, from: m.fromNode, to: m.toNode }, 'rebalancing: moving a replica (start-first)');
          events.publish({ type: 'task.state', namespace: svc.meta.namespace, service: svc.meta.name, task: next.id, slot: next.slot, state: 'pending', message: `rebalancing: replica moves from ${m.fromNode} to ${m.toNode}` });
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err;
        }
      }
    }
  }
}
