// The controller's Prometheus metrics: every name in one file. Loops are observed the same way
// (result counters, duration histogram, queue depth), label sets initialised to zero.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const LOOP_NAMES = ['replicated', 'global', 'scheduler', 'reaper', 'nodes', 'dispatcher'] as const;
export type LoopName = (typeof LOOP_NAMES)[number];
export const RECONCILE_RESULTS = ['success', 'error', 'requeue', 'conflict'] as const;
export type ReconcileResultLabel = (typeof RECONCILE_RESULTS)[number];

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal = new Counter({
    name: 'berth_controller_reconcile_total',
    help: 'Reconciliations by loop and result.',
    labelNames: ['loop', 'result'] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'berth_controller_reconcile_duration_seconds',
    help: 'Time per reconciliation, by loop.',
    labelNames: ['loop'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'berth_controller_workqueue_depth',
    help: 'Keys waiting in a loop\'s work queue.',
    labelNames: ['loop'] as const,
    registers: [this.registry],
  });
  readonly placements = new Counter({
    name: 'berth_scheduler_placements_total',
    help: 'Tasks placed on nodes by the scheduler.',
    registers: [this.registry],
  });
  readonly unschedulable = new Gauge({
    name: 'berth_scheduler_pending_tasks',
    help: 'Tasks the scheduler could not place in its last pass.',
    registers: [this.registry],
  });
  readonly schedulingLatency = new Histogram({
    name: 'berth_scheduler_batch_duration_seconds',
    help: 'Time to plan and commit one scheduling batch.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly isLeader = new Gauge({
    name: 'berth_controller_is_leader',
    help: '1 while this controller holds leadership.',
    registers: [this.registry],
  });
  readonly leaderChanges = new Counter({
    name: 'berth_controller_leadership_changes_total',
    help: 'Times this controller gained or lost leadership.',
    registers: [this.registry],
  });
  readonly agentSessions = new Gauge({
    name: 'berth_controller_agent_sessions',
    help: 'Open agent sessions on this controller.',
    registers: [this.registry],
  });
  readonly statusWrites = new Counter({
    name: 'berth_controller_status_writes_total',
    help: 'Task status updates written to the store, by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'berth_controller_api_requests_total',
    help: 'ControlAPI requests by method and gRPC code.',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });
  readonly apiDuration = new Histogram({
    name: 'berth_controller_api_request_duration_seconds',
    help: 'ControlAPI request latency by method.',
    labelNames: ['method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    for (const loop of LOOP_NAMES) {
      for (const result of RECONCILE_RESULTS) this.reconcileTotal.labels(loop, result).inc(0);
      this.queueDepth.labels(loop).set(0);
    }
    for (const result of ['ok', 'conflict', 'stale', 'error']) this.statusWrites.labels(result).inc(0);
    this.isLeader.set(0);
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'berth_controller_' });
  }
}
