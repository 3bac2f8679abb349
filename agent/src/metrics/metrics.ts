// The agent's Prometheus metrics: every name in one file (docs/metrics.md lists them; a test
// checks the two agree). Per-task series carry namespace, service and slot only: a replaced
// container keeps its slot's series, so cardinality is bounded by the replicas, not by history.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ContainerStats } from '../runtime/observe.js';

export const TASK_LABELS = ['namespace', 'service', 'slot'] as const;
/** Health states of berth_task_health ("none": the service declares no health check). */
export const HEALTH_STATES = ['healthy', 'unhealthy', 'starting', 'none'] as const;
/**
 * Why berth_task_restarts_total counted a restart: how the run before it ended (killed by the
 * kernel out of memory, unhealthy, or any other end), or a replacement task of a slot that failed.
 */
export const RESTART_REASONS = ['exited', 'oom_killed', 'unhealthy', 'replaced'] as const;
export type RestartReason = (typeof RESTART_REASONS)[number];

/** What the agent observes of one replica slot on this node, read when Prometheus scrapes. */
export interface SlotObservation {
  namespace: string;
  service: string;
  slot: string;
  /** Latest engine sample of the slot's newest running container, if any yet. */
  stats: ContainerStats | undefined;
  health: string;
}

export interface ObservationSource {
  slots(): SlotObservation[];
  /** Reservations of the tasks that hold resources on this node. */
  allocated(): { cpuMilli: number; memoryBytes: number };
}

type TaskCounter = Counter<(typeof TASK_LABELS)[number]>;

export class AgentMetrics {
  readonly registry = new Registry();
  private source: ObservationSource | undefined;

  readonly sessionConnected = new Gauge({
    name: 'berth_agent_session_connected',
    help: '1 while the agent has a session with the leader.',
    registers: [this.registry],
  });
  readonly capacityCpu = new Gauge({
    name: 'berth_node_capacity_cpus',
    help: 'CPUs this node advertises to the scheduler.',
    registers: [this.registry],
  });
  readonly capacityMemory = new Gauge({
    name: 'berth_node_capacity_memory_bytes',
    help: 'Memory this node advertises to the scheduler.',
    registers: [this.registry],
  });
  readonly allocatedCpu = new Gauge({
    name: 'berth_node_allocated_cpus',
    help: 'CPUs reserved by the tasks this node runs (resources.cpu of each).',
    registers: [this.registry],
    collect: () => {
      if (this.source) this.allocatedCpu.set(this.source.allocated().cpuMilli / 1000);
    },
  });
  readonly allocatedMemory = new Gauge({
    name: 'berth_node_allocated_memory_bytes',
    help: 'Memory reserved by the tasks this node runs (resources.memory of each).',
    registers: [this.registry],
    collect: () => {
      if (this.source) this.allocatedMemory.set(this.source.allocated().memoryBytes);
    },
  });
  readonly tasks = new Gauge({
    name: 'berth_agent_tasks',
    help: 'Tasks assigned to this agent, by last reported state.',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly engineCalls = new Histogram({
    name: 'berth_agent_engine_request_duration_seconds',
    help: 'Docker engine API latency, by operation.',
    labelNames: ['op'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly engineErrors = new Counter({
    name: 'berth_agent_engine_errors_total',
    help: 'Docker engine API errors, by operation.',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });
  readonly imagePulls = new Counter({
    name: 'berth_agent_image_pulls_total',
    help: 'Image pulls this agent started, by how they ended: pulled, failed (the engine or registry refused or broke it), abandoned (no task waited for it any more: its service was deleted or changed).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly statsDuration = new Histogram({
    name: 'berth_agent_stats_collection_duration_seconds',
    help: 'Time to take one resource sample of every running container of this node.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'berth_agent_api_requests_total',
    help: 'AgentAPI calls (logs, exec, stats) from controllers, by method and gRPC code.',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });
  readonly apiStreams = new Gauge({
    name: 'berth_agent_api_streams',
    help: 'AgentAPI log and exec streams open now, by method.',
    labelNames: ['method'] as const,
    registers: [this.registry],
  });
  readonly restarts = new Counter({
    name: 'berth_task_restarts_total',
    help: "Restarts of a replica slot on this node, by reason (exited, oom_killed, unhealthy: how the run before ended, restarted in place; replaced: a replacement task after a failure started here). Sum over nodes and reasons for the slot's restarts.",
    labelNames: [...TASK_LABELS, 'reason'] as const,
    registers: [this.registry],
  });
  readonly health = new Gauge({
    name: 'berth_task_health',
    help: "Health of the replica slot's newest task on this node: 1 for its current status (healthy, unhealthy, starting, none).",
    labelNames: [...TASK_LABELS, 'status'] as const,
    registers: [this.registry],
    collect: () => {
      this.health.reset();
      for (const s of this.source?.slots() ?? []) {
        const current = (HEALTH_STATES as readonly string[]).includes(s.health) ? s.health : 'none';
        for (const h of HEALTH_STATES) this.health.labels(s.namespace, s.service, s.slot, h).set(h === current ? 1 : 0);
      }
    },
  });
  readonly memory = this.statsGauge(
    'berth_task_memory_working_set_bytes',
    "Memory working set of the slot's container (usage minus inactive file cache), from the engine's stats.",
    (s) => s.memoryBytes,
  );
  readonly memoryLimit = this.statsGauge(
    'berth_task_memory_limit_bytes',
    "Memory limit of the slot's container as the engine reports it (the host's memory when none is set).",
    (s) => s.memoryLimitBytes,
  );
  readonly cpu = this.statsCounter(
    'berth_task_cpu_seconds_total',
    "CPU time used by the slot's container, from the engine's stats.",
    (s) => s.cpuSeconds,
  );
  readonly networkRx = this.statsCounter(
    'berth_task_network_receive_bytes_total',
    "Bytes received by the slot's container on all its interfaces.",
    (s) => s.networkRxBytes,
  );
  readonly networkTx = this.statsCounter(
    'berth_task_network_transmit_bytes_total',
    "Bytes sent by the slot's container on all its interfaces.",
    (s) => s.networkTxBytes,
  );
  readonly blockRead = this.statsCounter(
    'berth_task_block_read_bytes_total',
    "Bytes the slot's container read from block devices.",
    (s) => s.blockReadBytes,
  );
  readonly blockWrite = this.statsCounter(
    'berth_task_block_write_bytes_total',
    "Bytes the slot's container wrote to block devices.",
    (s) => s.blockWriteBytes,
  );

  readonly fenced = new Gauge({
    name: 'berth_agent_fenced',
    help: '1 while the agent has lost the leader for longer than the fencing time (waitForNode containers stopped).',
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    this.sessionConnected.set(0);
    this.fenced.set(0);
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'berth_agent_' });
  }

  /** Where per-slot and allocation metrics are read from at scrape time. */
  observe(source: ObservationSource): void {
    this.source = source;
  }

  private statsGauge(name: string, help: string, value: (s: ContainerStats) => number): Gauge<(typeof TASK_LABELS)[number]> {
    const g: Gauge<(typeof TASK_LABELS)[number]> = new Gauge({
      name,
      help,
      labelNames: TASK_LABELS,
      registers: [this.registry],
      collect: () => {
        g.reset();
        for (const s of this.source?.slots() ?? []) if (s.stats) g.labels(s.namespace, s.service, s.slot).set(value(s.stats));
      },
    });
    return g;
  }

  /**
   * A counter whose value the engine keeps (cumulative since the container started): set at
   * scrape time. A replacement container starts from zero again, which Prometheus' rate()
   * treats as a counter reset.
   */
  private statsCounter(name: string, help: string, value: (s: ContainerStats) => number): TaskCounter {
    const c: TaskCounter = new Counter({
      name,
      help,
      labelNames: TASK_LABELS,
      registers: [this.registry],
      collect: () => {
        c.reset();
        for (const s of this.source?.slots() ?? []) if (s.stats) c.labels(s.namespace, s.service, s.slot).inc(Math.max(0, value(s.stats)));
      },
    });
    return c;
  }
}
