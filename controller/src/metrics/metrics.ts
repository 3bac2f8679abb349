// The controller's Prometheus metrics: every name in one file (docs/metrics.md lists them; a test
// checks the two agree). Loops are observed the same way (result counters, duration histogram,
// queue depth), label sets initialised to zero. Cluster-state gauges (services, tasks, nodes)
// are computed from the caches when scraped, and only by the leader, so that summing over the
// controllers never counts the cluster twice.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { TASK_STATE_ORDER } from '../../../proto/src/types.js';

/** Loops observed as reconcile loops: the orchestrators (per service key) and the scheduler (per pass; its queue is the pending tasks). */
export const LOOP_NAMES = ['replicated', 'global', 'scheduler'] as const;
export type LoopName = (typeof LOOP_NAMES)[number];
export const RECONCILE_RESULTS = ['success', 'error', 'requeue', 'conflict'] as const;
export type ReconcileResultLabel = (typeof RECONCILE_RESULTS)[number];
export const ETCD_OPS = ['get', 'list', 'commit', 'watch'] as const;
export type EtcdOp = (typeof ETCD_OPS)[number];
export const ETCD_RESULTS = ['ok', 'conflict', 'unavailable', 'compacted', 'error'] as const;
export type EtcdResult = (typeof ETCD_RESULTS)[number];
const NODE_STATES = ['ready', 'unknown', 'down'] as const;
const NODE_AVAILABILITIES = ['active', 'pause', 'drain'] as const;
/** One series of a cluster-state gauge: label values (in labelNames order) and value. */
type GaugeRow = [string[], number];

/** The cluster as the leader's caches hold it, read at scrape time. */
export interface ClusterState {
  services: Array<{
    namespace: string;
    name: string;
    revision: number;
    desired: number;
    running: number;
    ready: number;
    tasksByState: Map<string, number>;
  }>;
  nodes: Array<{ id: string; state: string; availability: string }>;
  rollouts: Array<{ namespace: string; name: string; state: string; failedSlots: number }>;
}

/** States of a service's newest rollout (proto/src/lifecycle-model.ts RolloutState). */
export const ROLLOUT_STATES = ['updating', 'paused', 'completed', 'rollback_started', 'rollback_paused', 'rollback_completed'] as const;

/** Publisher-side counts of the event stream. */
export interface EventCounts {
  published: number;
  dropped: number;
}

/** A scrape reads several gauges from one cluster snapshot taken at most this long ago. */
const CLUSTER_STATE_MEMO_MS = 500;

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
    help: "Keys waiting in a loop's work queue.",
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
  readonly auditRecords = new Counter({
    name: 'berth_controller_audit_records_total',
    help: "Audit records: written in the call's own transaction (txn), written after it (after), or lost (error).",
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly auditPruned = new Counter({
    name: 'berth_controller_audit_pruned_total',
    help: 'Audit records the leader deleted, past --audit-max-age or beyond --audit-max-records.',
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'berth_controller_api_requests_total',
    help: 'API requests (ControlAPI; ObserveAPI, whose streams count when they end) by method and gRPC code.',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });
  readonly apiDuration = new Histogram({
    name: 'berth_controller_api_request_duration_seconds',
    help: 'Latency of unary API requests (ControlAPI, ObserveAPI Top) by method and gRPC code.',
    labelNames: ['method', 'code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly apiStreams = new Gauge({
    name: 'berth_controller_api_streams',
    help: 'ObserveAPI streams (events, logs, exec) open now, by method.',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });
  readonly etcdDuration = new Histogram({
    name: 'berth_etcd_request_duration_seconds',
    help: "Latency of the controller's etcd requests, by operation.",
    labelNames: ['op'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly etcdRequests = new Counter({
    name: 'berth_etcd_requests_total',
    help: 'etcd requests by operation and result (ok, conflict: a conditional write lost its race, unavailable, compacted: a watch must re-list, error).',
    labelNames: ['op', 'result'] as const,
    registers: [this.registry],
  });
  readonly placementLatency = new Histogram({
    name: 'berth_scheduler_placement_latency_seconds',
    help: "Time from a task's creation to its placement on a node (observed by the leader).",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private cluster: (() => ClusterState | undefined) | undefined;
  private clusterMemo: { at: number; state: ClusterState | undefined } | undefined;
  private events: (() => EventCounts) | undefined;
  readonly serviceDesired = this.clusterGauge(
    'berth_service_desired_replicas',
    'Replicas a service asks for (0 while it is being deleted). Leader only.',
    ['namespace', 'service'],
    (st) => st.services.map((s) => [[s.namespace, s.name], s.desired]),
  );
  readonly serviceRunning = this.clusterGauge(
    'berth_service_running_replicas',
    'Replicas of a service whose task is running. Leader only.',
    ['namespace', 'service'],
    (st) => st.services.map((s) => [[s.namespace, s.name], s.running]),
  );
  readonly serviceReady = this.clusterGauge(
    'berth_service_ready_replicas',
    'Replicas of a service that are ready: running and, when the service has a health check, healthy. Leader only.',
    ['namespace', 'service'],
    (st) => st.services.map((s) => [[s.namespace, s.name], s.ready]),
  );
  readonly serviceRevision = this.clusterGauge(
    'berth_service_revision',
    'Current spec revision of a service: a step up is a rollout (or a rollback, which is a new revision). Leader only.',
    ['namespace', 'service'],
    (st) => st.services.map((s) => [[s.namespace, s.name], s.revision]),
  );
  readonly rolloutState = this.clusterGauge(
    'berth_service_rollout_state',
    'Per service with a rollout record: 1 for the state of its newest rollout (updating, paused, completed, rollback_started, rollback_paused, rollback_completed). Leader only.',
    ['namespace', 'service', 'state'],
    (st) => st.rollouts.flatMap((r) => ROLLOUT_STATES.map((x): GaugeRow => [[r.namespace, r.name, x], r.state === x ? 1 : 0])),
  );
  readonly rolloutFailedSlots = this.clusterGauge(
    'berth_service_rollout_failed_slots',
    "Slots whose new task failed during the service's newest rollout. Leader only.",
    ['namespace', 'service'],
    (st) => st.rollouts.map((r) => [[r.namespace, r.name], r.failedSlots]),
  );
  readonly tasks = this.clusterGauge(
    'berth_tasks',
    'Tasks meant to run (desired state running), by service and observed state. Leader only.',
    ['namespace', 'service', 'state'],
    (st) => st.services.flatMap((s) => TASK_STATE_ORDER.map((x): GaugeRow => [[s.namespace, s.name, x], s.tasksByState.get(x) ?? 0])),
  );
  readonly nodes = this.clusterGauge(
    'berth_nodes',
    'Nodes by state (ready, unknown, down) and availability (active, pause, drain). Leader only.',
    ['state', 'availability'],
    (st) =>
      NODE_STATES.flatMap((x) =>
        NODE_AVAILABILITIES.map((a): GaugeRow => [[x, a], st.nodes.filter((n) => n.state === x && n.availability === a).length]),
      ),
  );
  readonly nodeState = this.clusterGauge(
    'berth_node_state',
    'Per node: 1 for its current state (ready, unknown, down), 0 for the others. Leader only.',
    ['node', 'state'],
    (st) => st.nodes.flatMap((n) => NODE_STATES.map((x): GaugeRow => [[n.id, x], n.state === x ? 1 : 0])),
  );
  readonly eventsPublished = new Counter({
    name: 'berth_events_published_total',
    help: 'Events this controller published to the NATS JetStream stream.',
    registers: [this.registry],
    collect: () => {
      if (!this.events) return;
      this.eventsPublished.reset();
      this.eventsPublished.inc(this.events().published);
    },
  });
  readonly eventsDropped = new Counter({
    name: 'berth_events_dropped_total',
    help: 'Events dropped because NATS was unreachable longer than the publish buffer lasts.',
    registers: [this.registry],
    collect: () => {
      if (!this.events) return;
      this.eventsDropped.reset();
      this.eventsDropped.inc(this.events().dropped);
    },
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    for (const loop of LOOP_NAMES) {
      for (const result of RECONCILE_RESULTS) this.reconcileTotal.labels(loop, result).inc(0);
      this.queueDepth.labels(loop).set(0);
    }
    for (const result of ['ok', 'conflict', 'stale', 'error']) this.statusWrites.labels(result).inc(0);
    for (const result of ['txn', 'after', 'error']) this.auditRecords.labels(result).inc(0);
    this.isLeader.set(0);
    for (const op of ETCD_OPS) for (const result of ETCD_RESULTS) this.etcdRequests.labels(op, result).inc(0);
    for (const method of ['Events', 'Logs', 'Exec']) this.apiStreams.labels(method).set(0);
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'berth_controller_' });
  }

  /** The cluster-state gauges read this (undefined: not the leader, no series). */
  observeCluster(source: () => ClusterState | undefined): void {
    this.cluster = source;
  }

  observeEvents(source: () => EventCounts): void {
    this.events = source;
  }

  /** A leader-only gauge whose series are computed from the cluster state at each scrape. */
  private clusterGauge(name: string, help: string, labelNames: string[], rows: (st: ClusterState) => GaugeRow[]): Gauge {
    const g: Gauge = new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect: () => {
        g.reset();
        const st = this.clusterState();
        if (st) for (const [labels, value] of rows(st)) g.labels(...labels).set(value);
      },
    });
    return g;
  }

  /** One computation per scrape, shared by the gauges that read it. */
  private clusterState(): ClusterState | undefined {
    const now = Date.now();
    if (!this.clusterMemo || now - this.clusterMemo.at > CLUSTER_STATE_MEMO_MS) this.clusterMemo = { at: now, state: this.cluster?.() };
    return this.clusterMemo.state;
  }
}
