// The agent's Prometheus metrics: every name in one file.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class AgentMetrics {
  readonly registry = new Registry();
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
}
