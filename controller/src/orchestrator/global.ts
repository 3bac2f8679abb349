// Shell of the global orchestrator: services with `mode: global`. Maps cache events to service
// keys (every node change concerns every global service), and per key reads the cache, calls
// the pure planGlobal() and commits its changes conditionally.
import type { Clock } from '../../../proto/src/clock.js';
import type { Logger } from '../../../proto/src/log.js';
import type { NodeRecord, ServiceRecord, TaskRecord, Versioned } from '../../../proto/src/model.js';
import { modeOf } from '../../../proto/src/spec/placement.js';
import type { ControllerMetrics } from '../metrics/metrics.js';
import { runQueue } from '../reconcile/runner.js';
import { WorkQueue } from '../reconcile/workqueue.js';
import type { ClusterCache } from '../store/cluster.js';
import { serviceKey } from '../model/task-identity.js';
import type { EventSink } from '../events/events.js';
import { effectiveLabels } from '../model/node-attributes.js';
import { planGlobal } from './global-plan.js';
import { ORCHESTRATOR_RESYNC_MS, applyPlan, concernsOrchestrator } from './replicated.js';

const isGlobal = (s: ServiceRecord): boolean => modeOf(s.spec) === 'global';

/** What of a node decides where global tasks go. */
function placementView(n: NodeRecord): string {
  return JSON.stringify([n.state, n.availability, effectiveLabels(n), n.description.hostname, n.description.os, n.description.arch]);
}

export class GlobalOrchestrator {
  readonly queue: WorkQueue;

  constructor(private readonly deps: { cache: ClusterCache; clock: Clock; log: Logger; metrics?: ControllerMetrics | undefined; events: EventSink; workers?: number }) {
    this.queue = new WorkQueue(deps.clock);
  }

  private enqueueAll(): void {
    for (const s of this.deps.cache.services.list()) if (isGlobal(s.value)) this.queue.add(serviceKey(s.value.meta.namespace, s.value.meta.name));
  }

  async start(signal: AbortSignal): Promise<void> {
    const { cache } = this.deps;
    const enqueueTask = (t: TaskRecord): void => {
      const s = cache.service(t.namespace, t.service);
      if (s && isGlobal(s.value)) this.queue.add(serviceKey(t.namespace, t.service));
    };
    const off: Array<() => void> = [
      cache.services.addHandler({
        onUpsert: (_k, s) => {
          if (isGlobal(s.value)) this.queue.add(serviceKey(s.value.meta.namespace, s.value.meta.name));
        },
      }),
      cache.tasks.addHandler({
        onUpsert: (_k, t, old) => {
          if (old && !concernsOrchestrator(old.value, t.value)) return;
          enqueueTask(t.value);
        },
        onDelete: (_k, t) => enqueueTask(t.value),
      }),
      // Pause and resume (written by the API) steer the rolling update.
      cache.rollouts.addHandler({
        onUpsert: (_k, r) => {
          const s = cache.service(r.value.namespace, r.value.name);
          if (s && isGlobal(s.value)) this.queue.add(serviceKey(r.value.namespace, r.value.name));
        },
      }),
      cache.nodes.addHandler({
        onUpsert: (_k, n, old) => {
          if (!old || placementView(old.value) !== placementView(n.value)) this.enqueueAll();
        },
        onDelete: () => this.enqueueAll(),
      }),
    ];
    await cache.synced;
    this.enqueueAll();
    const timer = setInterval(() => this.enqueueAll(), ORCHESTRATOR_RESYNC_MS);
    try {
      await runQueue({ loop: 'global', queue: this.queue, reconcile: (key) => this.reconcile(key), workers: this.deps.workers ?? 2, log: this.deps.log, metrics: this.deps.metrics, signal });
    } finally {
      clearInterval(timer);
      for (const f of off) f();
    }
  }

  async reconcile(serviceKey: string): Promise<{ requeueAfterMs?: number } | void> {
    const { cache, clock } = this.deps;
    const [namespace, name] = serviceKey.split('/') as [string, string];
    const svc = cache.service(namespace, name);
    // A service that is gone is the replicated orchestrator's to clean up (it handles any key).
    if (!svc || !isGlobal(svc.value)) return;
    const tasks = cache.tasksOfService(namespace, name);
    const byId = new Map<string, Versioned<TaskRecord>>(tasks.map((t) => [t.value.id, t]));
    const rollout = cache.rollout(namespace, name);
    const plan = planGlobal({ service: svc.value, tasks: tasks.map((t) => t.value), nodes: cache.nodes.list().map((n) => n.value), nowMs: clock.now(), rollout: rollout?.value });
    await applyPlan(this.deps, serviceKey, svc, byId, plan, rollout);
    return plan.requeueAfterMs !== undefined ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
  }
}
