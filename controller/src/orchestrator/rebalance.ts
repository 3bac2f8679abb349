// Shell of opt-in rebalancing (leader only): for services with placement.rebalance, start-first
// moves onto nodes that have too few of their replicas (rebalance-plan.ts decides). A move is a
// new task in the same slot (handoverFrom = the old one), created only while the old task is
// unchanged; the scheduler places it, and the replicated orchestrator stops the old one once
// the new one runs. The snapshot of nodes and the "would it fit" question come from the
// scheduler through `placement`, injected by the composition root (manager.ts).
import { Notifier, sleep, type Clock } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import type { TaskRecord } from '../../../proto/src/model.js';
import { ConflictError } from '../../../proto/src/errors.js';
import type { ClusterCache } from '../store/cluster.js';
import { createOp } from '../store/ops.js';
import { taskCodec } from '../store/codecs.js';
import type { EventSink } from '../events/events.js';
import { instanceOf, newTask, serviceKey } from '../model/task-identity.js';
import { planRebalance, type PlaceFn, type RebalanceNode } from './rebalance-plan.js';

/** Rebalancing is looked at no more often than this (it asks the scheduler once per candidate node). */
export const REBALANCE_CHECK_MS = 1_000;
/** After a rebalance move had to be given up (its new task did not run), the service waits this long. */
export const REBALANCE_BACKOFF_MS = 5 * 60_000;
/** Looked at again this often even without a change (level-triggered safety net). */
const REBALANCE_RESYNC_MS = 5_000;

/** What rebalancing needs of the scheduler. */
export interface RebalancePlacement<N extends RebalanceNode> {
  /** The scheduler's current snapshot of nodes (what they hold, counting placements in flight). */
  nodes(): readonly N[];
  place: PlaceFn<N>;
}

export class RebalanceLoop<N extends RebalanceNode> {
  private wake = new Notifier();
  private dirty = true;
  private seed = 0;
  private lastCheckMs = Number.NEGATIVE_INFINITY;
  /** serviceKey → no rebalance moves before this time (a move was given up). */
  private backoff = new Map<string, number>();

  constructor(
    private readonly deps: { cache: ClusterCache; clock: Clock; log: Logger; events: EventSink; placement: RebalancePlacement<N> },
  ) {}

  trigger(): void {
    this.dirty = true;
    this.wake.notify();
  }

  async start(signal: AbortSignal): Promise<void> {
    const { cache, clock } = this.deps;
    const off = [
      cache.tasks.addHandler({
        onUpsert: (_k, t, old) => {
          if (
            t.value.handoverFrom &&
            old?.value.desiredState === 'running' &&
            t.value.desiredState !== 'running' &&
            t.value.status.state !== 'running'
          ) {
            // A start-first move ended without its new task running (e.g. a rebalance that timed out).
            this.backoff.set(serviceKey(t.value.namespace, t.value.service), clock.now() + REBALANCE_BACKOFF_MS);
          }
          this.trigger();
        },
        onDelete: () => this.trigger(),
      }),
      cache.nodes.addHandler({ onUpsert: () => this.trigger(), onDelete: () => this.trigger() }),
      cache.services.addHandler({ onUpsert: () => this.trigger() }),
    ];
    await cache.synced;
    const retry = setInterval(() => this.trigger(), REBALANCE_RESYNC_MS);
    try {
      while (!signal.aborted) {
        if (!this.dirty) {
          await this.wake.wait(signal);
          continue;
        }
        // No more often than REBALANCE_CHECK_MS (a move that just finished may allow the next).
        const wait = this.lastCheckMs + REBALANCE_CHECK_MS - clock.now();
        if (wait > 0) {
          await sleep(wait, signal);
          continue;
        }
        this.dirty = false;
        try {
          await this.pass();
        } catch (err) {
          this.deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'rebalance pass failed');
          this.dirty = true;
        }
      }
    } finally {
      clearInterval(retry);
      for (const f of off) f();
    }
  }

  async pass(): Promise<void> {
    const { cache, clock, log, events, placement } = this.deps;
    // Nothing opted in: no look.
    const opted = cache.services.list().filter((s) => s.value.spec.placement?.rebalance);
    if (opted.length === 0) return;
    const now = clock.now();
    this.lastCheckMs = now;
    const nodes = placement.nodes();
    const seed = this.seed++;
    for (const s of opted) {
      const svc = s.value;
      const sk = serviceKey(svc.meta.namespace, svc.meta.name);
      if ((this.backoff.get(sk) ?? 0) > now) continue;
      const tasks = cache.tasksOfService(svc.meta.namespace, svc.meta.name);
      const moves = planRebalance({ nodes, service: svc, tasks: tasks.map((t) => t.value), seed, place: placement.place });
      for (const m of moves) {
        const old = tasks.find((t) => t.value.id === m.task.id)!;
        const slotTasks = tasks.filter((t) => t.value.slot === m.task.slot).map((t) => instanceOf(t.value));
        const next: TaskRecord = { ...newTask(svc, m.task.slot, Math.max(...slotTasks) + 1, now), handoverFrom: m.task.id };
        try {
          await cache.store.commit([
            createOp(cache.keys.task(next.id), taskCodec, next),
            { op: 'check', key: cache.keys.task(old.value.id), modRevision: old.modRevision },
          ]);
          log.info({ service: sk, slot: m.task.slot, from: m.fromNode, to: m.toNode }, 'rebalancing: moving a replica (start-first)');
          events.publish({
            type: 'task.state',
            namespace: svc.meta.namespace,
            service: svc.meta.name,
            task: next.id,
            slot: next.slot,
            state: 'pending',
            message: `rebalancing: replica moves from ${m.fromNode} to ${m.toNode}`,
          });
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err;
        }
      }
    }
  }
}
